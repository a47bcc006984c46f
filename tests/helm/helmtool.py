"""The chart tests' tools: helm and promql-check from .testenv/bin (``make helm``), and the chart rendered.

Without the binaries a test skips with what to run, or fails under ``CI=true`` (tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "pymetallb"
VALUES_DIR = Path(__file__).resolve().parent / "values"
BIN = REPO / ".testenv" / "bin"
HELM = BIN / "helm"
PROMQL_CHECK = BIN / "promql-check"
RELEASE = "pymetallb"


def need(tool: Path) -> Path:
    if not tool.exists():
        pytest.skip(f"{tool.relative_to(REPO)} not built: run `make helm`")
    return tool


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(need(HELM)), *args], capture_output=True, text=True, check=check, timeout=120)


def template_text(*values_files: Path, namespace: str = "metallb-system", sets: tuple[str, ...] = ()) -> str:
    args = ["template", RELEASE, str(CHART), "--namespace", namespace]
    for f in values_files:
        args += ["--values", str(f)]
    for s in sets:
        args += ["--set", s]
    done = helm(*args, check=False)
    if done.returncode != 0:
        raise AssertionError(f"helm template failed:\n{done.stderr}")
    return done.stdout


def render(*values_files: Path, namespace: str = "metallb-system") -> list[dict[str, Any]]:
    """Every object the chart renders with these values, in order."""
    return [d for d in yaml.safe_load_all(template_text(*values_files, namespace=namespace)) if d]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for o in objects:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    raise AssertionError(f"{kind}/{name} not rendered; have {[(o['kind'], o['metadata']['name']) for o in objects]}")


def values_files() -> list[Path]:
    return sorted(VALUES_DIR.glob("*.yaml"))


def parse_promql(exprs: list[str]) -> list[dict[str, Any]]:
    """Prometheus's parser over each expression: ``{"error": str|None, "metrics": [names]}`` per expression."""
    done = subprocess.run(
        [str(need(PROMQL_CHECK))], input=json.dumps(exprs), capture_output=True, text=True, check=True, timeout=60
    )
    out: list[dict[str, Any]] = json.loads(done.stdout)
    return out


def grafana_to_promql(expr: str) -> str:
    """A dashboard query as Prometheus receives it: Grafana substitutes its variables first."""
    return expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$pool", ".*")


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads((CHART / "files" / "dashboard.json").read_text())
    out = [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]
    for var in board["templating"]["list"]:
        q = var.get("query")
        if isinstance(q, str) and q.startswith("label_values("):
            # label_values(<selector>, label): the selector is PromQL.
            out.append((f"variable {var['name']}", q[len("label_values(") :].rsplit(",", 1)[0]))
    return out


def alert_rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for o in objects:
        if o["kind"] == "PrometheusRule":
            for group in o["spec"]["groups"]:
                rules += group["rules"]
    return rules
