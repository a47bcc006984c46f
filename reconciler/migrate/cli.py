"""``pymetallb migrate --in-cluster``: the command's surface over ``live.migrate_in_cluster``.

Registered under the ``pymetallb.migrate`` entry-point group as ``in-cluster``; ``crds.cli`` (which may import
nothing of ours) finds it there when ``--in-cluster`` is given. Prints the CRs on stdout (or ``-o FILE``), every
finding on stderr. Exit codes: 0 done (or nothing to do), 1 refused or failed, 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from reconciler.migrate.live import MigrationError, MigrationReport, migrate_in_cluster
from reconciler.runtime.client import ApiClient
from reconciler.runtime.errors import ApiError

__all__ = ["run"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _err(message: str) -> None:
    print(message, file=sys.stderr)


async def _run(args: argparse.Namespace) -> MigrationReport:
    try:
        client = await ApiClient.connect(args.kubeconfig)
    except ApiError as exc:
        raise MigrationError(f"cannot reach the cluster: {exc}") from exc
    async with client:
        return await migrate_in_cluster(
            client,
            namespace=args.namespace or "metallb-system",
            allow_moves=args.allow_moves,
            apply=args.apply,
            delete_configmap=args.delete_configmap,
            lb_class=args.lb_class,
            log=_err,
        )


def run(args: argparse.Namespace) -> int:
    """Entry point (``pymetallb.migrate``: ``in-cluster``), called by ``crds.cli`` with the parsed arguments."""
    if args.delete_configmap and not args.apply:
        _err("pymetallb migrate: error: --delete-configmap needs --apply")
        return EXIT_USAGE
    try:
        report = asyncio.run(_run(args))
    except MigrationError as exc:
        _err(f"error: {exc}")
        return EXIT_PROBLEMS
    if report.nothing_to_do:
        _err(report.nothing_to_do)
        return EXIT_OK
    for warning in report.warnings:
        _err(f"warning: {warning}")
    if args.output:
        try:
            Path(args.output).write_text(report.yaml, encoding="utf-8")
        except OSError as exc:
            _err(f"{args.output}: cannot write: {exc}")
            return EXIT_USAGE
    else:
        sys.stdout.write(report.yaml)
    proof = report.proof
    assert proof is not None
    for mover in proof.movers:
        _err(mover.line())
    if proof.new:
        _err(f"{len(proof.new)} Services without an IP would get one: {', '.join(proof.new[:10])}")
    if proof.movers and not args.allow_moves:
        _err(
            f"refusing: {len(proof.movers)} Service{'s' if len(proof.movers) > 1 else ''} would change IP "
            "(--allow-moves to migrate anyway)"
        )
        return EXIT_PROBLEMS
    _err(f"{len(proof.kept)} LoadBalancer Services keep their IPs under the converted CRs")
    if args.apply:
        _err(
            f"applied {len(report.applied)} objects, {len(report.unchanged)} already up to date "
            f"(field manager pymetallb); ConfigMap {report.configmap}"
        )
    return EXIT_OK
