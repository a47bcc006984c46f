"""``pymetallb migrate`` flags for a live cluster: misuse is a usage error (exit 2) with a message, no traceback."""

from __future__ import annotations

import io
import sys

import pytest

from crds.cli import main


def run(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    old = sys.stderr
    sys.stderr = err
    try:
        code = main(args, stdin=io.StringIO(""))
    finally:
        sys.stderr = old
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["migrate", "legacy.yaml", "--apply"],
            "--kubeconfig, --allow-moves, --apply, --lb-class need --in-cluster",
            id="apply-without-in-cluster",
        ),
        pytest.param(
            ["migrate", "--in-cluster", "legacy.yaml"],
            "--in-cluster reads the cluster; give no input file",
            id="in-cluster-with-a-file",
        ),
        pytest.param(
            ["migrate", "--in-cluster", "--delete-configmap"],
            "--delete-configmap needs --apply",
            id="delete-without-apply",
        ),
        pytest.param(
            ["plan", "-n", "metallb-system"],
            "give -f PATH (manifests) or --kubeconfig (a live cluster)",
            id="plan-nothing",
        ),
    ],
)
def test_misuse_is_a_usage_error(args: list[str], message: str) -> None:
    code, err = run(args)
    assert code == 2
    assert message in err


def test_an_unreachable_cluster_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    code, err = run(["migrate", "--in-cluster", "--kubeconfig", str(config)])
    assert code == 1
    assert err.startswith("error: get configmaps metallb-system/config: ConnectionError")
