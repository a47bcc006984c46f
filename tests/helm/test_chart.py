"""The chart, rendered by the real helm (``make helm``): lint, template over the default and the non-default
values files, the schema against typos, the generated parts in sync with their sources, the programs' flags, the
RBAC free of wildcards, and every PromQL expression parsed by Prometheus's own parser.

What needs a kube-apiserver (dry-run of every object, the programs under their ServiceAccounts) is in
tests/e2e/test_chart_e2e.py.
"""

from __future__ import annotations

import copy
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import chartgen
import pytest
import render_manifests
import yaml
from helmtool import (
    CHART,
    alert_rules,
    dashboard_queries,
    find,
    grafana_to_promql,
    helm,
    parse_promql,
    render,
    template_text,
    values_files,
)

from crds.cli import build_parser
from speaker.l2.interfaces import DEFAULT_EXCLUDE
from webhooks.registration import ServiceRef, validating_webhook_configuration

VALUES = {p.stem: p for p in values_files()}
ALL = [None, *VALUES.values()]
IDS = ["default", *VALUES]


def _files(values: Path | None) -> tuple[Path, ...]:
    return () if values is None else (values,)


def _container(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    c: dict[str, Any] = find(objects, kind, name)["spec"]["template"]["spec"]["containers"][0]
    return c


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("values", ALL, ids=IDS)
def test_helm_lint_passes_strictly(values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)] + (["--values", str(values)] if values else [])
    done = helm(*args, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("values", ALL, ids=IDS)
def test_every_rendered_object_is_namespaced_where_it_must_be(values: Path | None) -> None:
    cluster_scoped = {"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration"}
    for o in render(*_files(values), namespace="lb-system"):
        if o["kind"] in cluster_scoped:
            assert "namespace" not in o["metadata"], o["metadata"]["name"]
        else:
            assert o["metadata"]["namespace"] == "lb-system", (o["kind"], o["metadata"]["name"])


def test_defaults_render_metallbs_objects() -> None:
    objs = render()
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert {
        ("Deployment", "controller"),
        ("DaemonSet", "speaker"),
        ("Deployment", "webhook"),
        ("Service", "metallb-webhook-service"),
        ("Secret", "metallb-webhook-cert"),
        ("ValidatingWebhookConfiguration", "metallb-webhook-configuration"),
        ("ConfigMap", "metallb-excludel2"),
        ("ServiceAccount", "controller"),
        ("ServiceAccount", "speaker"),
        ("ServiceAccount", "webhook"),
        ("CustomResourceDefinition", "ipaddresspools.metallb.io"),
    } <= names
    assert not {k for k, _ in names} & {"ServiceMonitor", "PrometheusRule"}, "monitoring is opt-in"
    ctl = find(objs, "Deployment", "controller")
    assert ctl["spec"]["replicas"] == 2
    assert _env(ctl["spec"]["template"]["spec"]["containers"][0])["METALLB_ML_SECRET_NAME"] == "memberlist"
    assert "--leader-elect=true" in ctl["spec"]["template"]["spec"]["containers"][0]["args"]
    svc = find(objs, "Service", "metallb-webhook-service")
    assert svc["spec"]["ports"] == [{"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}]
    hook_pod = find(objs, "Deployment", "webhook")["spec"]["template"]
    assert svc["spec"]["selector"].items() <= hook_pod["metadata"]["labels"].items()


def test_speaker_has_host_network_net_raw_only_and_a_graceful_hand_off() -> None:
    objs = render()
    ds = find(objs, "DaemonSet", "speaker")["spec"]["template"]["spec"]
    assert ds["hostNetwork"] is True
    c = ds["containers"][0]
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert ds["terminationGracePeriodSeconds"] == 5
    env = _env(c)
    assert env["METALLB_NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["METALLB_ML_BIND_ADDR"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["METALLB_ML_SECRET_KEY_PATH"] == "/etc/ml_secret_key"
    assert {"METALLB_POD_NAME", "METALLB_POD_UID"} <= env.keys()
    volumes = {v["name"]: v for v in ds["volumes"]}
    assert volumes["memberlist"]["secret"]["secretName"] == "memberlist"
    assert volumes["metallb-excludel2"]["configMap"]["name"] == "metallb-excludel2"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts == {"memberlist": "/etc/ml_secret_key", "metallb-excludel2": "/etc/metallb"}
    assert "--ml-bindport=7946" in c["args"] and "--excludel2-path=/etc/metallb/excludel2.yaml" in c["args"]
    keys = {t["key"] for t in ds["tolerations"]}
    assert keys == {"node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane"}


def test_controller_and_webhook_run_as_nobody_read_only_without_capabilities() -> None:
    objs = render()
    for name in ("controller", "webhook"):
        pod = find(objs, "Deployment", name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65534
        sc = pod["containers"][0]["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"] == {"drop": ["ALL"]}


def test_custom_values_reach_the_speakers_flags_and_the_pods() -> None:
    objs = render(VALUES["custom"])
    c = _container(objs, "DaemonSet", "speaker")
    for arg in (
        "--lb-class=example.com/pymetallb",
        "--ignore-exclude-lb",
        "--answer-ping",
        "--ml-probe-interval=500ms",
        "--ml-suspicion-max-mult=3",
    ):
        assert arg in c["args"], arg
    assert not [a for a in c["args"] if a.startswith(("--ml-bind", "--ml-secret", "--excludel2"))], "memberlist off"
    assert "METALLB_ML_BIND_ADDR" not in _env(c)
    ds = find(objs, "DaemonSet", "speaker")["spec"]["template"]["spec"]
    assert "volumes" not in ds or not ds["volumes"]
    assert ds["tolerations"] == [{"operator": "Exists"}], "tolerateMaster false: only the given tolerations"
    assert ds["terminationGracePeriodSeconds"] == 8
    assert not [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "metallb-excludel2"]
    ctl = find(objs, "Deployment", "controller")
    pod = ctl["spec"]["template"]["spec"]
    assert ctl["spec"]["replicas"] == 3
    assert pod["containers"][0]["image"] == "registry.example.com/pymetallb:0.1.0-rc2"
    assert pod["containers"][0]["imagePullPolicy"] == "Always"
    assert _container(objs, "Deployment", "webhook")["image"] == "registry.example.com/pymetallb:0.1.0-rc1"
    assert pod["serviceAccountName"] == "pymetallb-controller"
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert ctl["spec"]["template"]["metadata"]["annotations"] == {"example.com/team": "network"}
    assert "--lease-duration=30" in pod["containers"][0]["args"]
    binding = find(objs, "ClusterRoleBinding", "metallb-system:controller")
    assert binding["subjects"][0]["name"] == "pymetallb-controller"


def test_minimal_values_leave_out_crds_rbac_and_the_webhook() -> None:
    kinds = {o["kind"] for o in render(VALUES["minimal"])}
    assert kinds == {"Deployment", "DaemonSet", "ConfigMap"}
    pod = find(render(VALUES["minimal"]), "Deployment", "controller")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "metallb-controller"


def test_monitoring_values_render_monitors_rules_and_the_dashboard() -> None:
    objs = render(VALUES["monitoring"])
    monitors = {o["metadata"]["name"] for o in objs if o["kind"] == "ServiceMonitor"}
    assert monitors == {"controller-monitor", "speaker-monitor", "webhook-monitor"}
    for name in monitors:
        svc = find(objs, "Service", name.replace("-monitor", "-monitor-service"))
        sm = find(objs, "ServiceMonitor", name)
        assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
        assert sm["metadata"]["labels"]["release"] == "prometheus"
    alerts = {r["alert"] for r in alert_rules(objs)}
    assert alerts == {
        "MetalLBStaleConfig",
        "MetalLBConfigNotLoaded",
        "MetalLBAddressPoolExhausted",
        "MetalLBAddressPoolUsage50Percent",
        "MetalLBAddressPoolUsage90Percent",
        "MetalLBBGPSessionDown",
        "PymetallbFrequentFailovers",
    }
    failover = next(r for r in alert_rules(objs) if r["alert"] == "PymetallbFrequentFailovers")
    assert failover["expr"] == "sum(increase(pymetallb_failover_seconds_count[1h])) > 10"
    board = find(objs, "ConfigMap", "pymetallb-dashboard")
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert yaml.safe_load(board["data"]["pymetallb.json"])["uid"] == "pymetallb"
    env = _env(_container(objs, "DaemonSet", "speaker"))
    assert env["METALLB_ML_BIND_ADDR"] == "192.0.2.10"
    for kind, name in (("Deployment", "controller"), ("DaemonSet", "speaker"), ("Deployment", "webhook")):
        annotations = find(objs, kind, name)["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "7472"}


def test_default_alerts_are_metallbs_plus_the_failover_rate() -> None:
    text = template_text(sets=("prometheus.prometheusRule.enabled=true",))
    rules = alert_rules([d for d in yaml.safe_load_all(text) if d])
    assert [r["alert"] for r in rules] == [
        "MetalLBStaleConfig",
        "MetalLBConfigNotLoaded",
        "MetalLBAddressPoolExhausted",
        "MetalLBAddressPoolUsage75Percent",
        "MetalLBAddressPoolUsage85Percent",
        "MetalLBAddressPoolUsage95Percent",
        "MetalLBBGPSessionDown",
        "PymetallbFrequentFailovers",
    ]
    assert all(r["for"] == "1m" for r in rules)
    assert {r["alert"]: r["labels"]["severity"] for r in rules}["MetalLBAddressPoolExhausted"] == "critical"
    assert "{{ $labels.pool }}" in rules[2]["annotations"]["message"], "Prometheus templates survive helm"


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("speaker.answerPnig=true", "answerPnig"),
        ("controler.replicas=1", "controler"),
        ("prometheus.serviceMonitor.enable=true", "enable"),
        ("controller.replicas=two", "replicas"),
        ("controller.logLevel=verbose", "logLevel"),
        ("speaker.failureDetector.ml_probe_interval=1s", "ml_probe_interval"),
    ],
)
def test_schema_rejects_typos_and_wrong_types(setting: str, complaint: str) -> None:
    done = helm("template", "x", str(CHART), "--set", setting, check=False)
    assert done.returncode != 0, f"--set {setting} was accepted"
    assert "values don't meet the specifications of the schema" in done.stderr
    assert complaint in done.stderr


def test_schema_lists_every_key_of_the_default_values() -> None:
    """values.yaml and the schema agree: the defaults pass (else every install fails), nothing is unchecked."""
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], sch: dict[str, Any], path: str) -> None:
        props = sch.get("properties")
        if props is None:
            return
        assert sch.get("additionalProperties") is False, f"{path or 'top level'}: schema accepts unknown keys"
        for key, value in node.items():
            assert key in props, f"{path}{key}: in values.yaml, not in the schema"
            if isinstance(value, dict):
                walk(value, props[key], f"{path}{key}.")

    walk(values, schema, "")


def test_generated_templates_are_current() -> None:
    assert chartgen.stale() == [], "run `make chart`"


def test_the_manifest_for_kubectl_is_the_rendered_chart() -> None:
    assert render_manifests.MANIFEST.read_text() == render_manifests.manifest(), "run `make chart`"


def test_webhook_configuration_is_the_one_the_webhook_builds() -> None:
    rendered = find(render(namespace="lb-system"), "ValidatingWebhookConfiguration", "metallb-webhook-configuration")
    own = validating_webhook_configuration(None, service=ServiceRef(namespace="lb-system"))
    assert rendered["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    for obj in (rendered, own):
        del obj["metadata"]["labels"]
    assert rendered == own


def test_crds_are_the_generated_ones_with_the_release_namespace() -> None:
    rendered = {
        o["metadata"]["name"]: o for o in render(namespace="lb-system") if o["kind"] == "CustomResourceDefinition"
    }
    sources = {}
    for path in sorted((CHART.parents[1] / "crds").glob("metallb.io_*.yaml")):
        crd = yaml.safe_load(path.read_text())
        sources[crd["metadata"]["name"]] = crd
    assert rendered.keys() == sources.keys()
    for name, crd in rendered.items():
        expected = copy.deepcopy(sources[name])
        expected["metadata"].setdefault("annotations", {})["helm.sh/resource-policy"] = "keep"
        conv = expected["spec"].get("conversion")
        if conv and conv.get("strategy") == "Webhook":
            conv["webhook"]["clientConfig"]["service"]["namespace"] = "lb-system"
        assert crd == expected, name
    assert rendered["bgppeers.metallb.io"]["spec"]["conversion"]["webhook"]["clientConfig"]["service"] == {
        "name": "metallb-webhook-service",
        "namespace": "lb-system",
        "path": "/convert",
    }


def test_excluded_interfaces_are_the_speakers_defaults() -> None:
    cm = find(render(), "ConfigMap", "metallb-excludel2")
    assert tuple(yaml.safe_load(cm["data"]["excludel2.yaml"])["announcedInterfacesToExclude"]) == DEFAULT_EXCLUDE


@pytest.mark.parametrize("values", ALL, ids=IDS)
def test_rbac_names_every_verb_and_resource(values: Path | None) -> None:
    for o in render(*_files(values)):
        for rule in o.get("rules", []) if o["kind"] in ("Role", "ClusterRole") else []:
            for field in ("verbs", "resources", "apiGroups"):
                assert "*" not in rule.get(field, []), f"{o['kind']} {o['metadata']['name']}: wildcard {field}"
            assert not rule.get("nonResourceURLs"), o["metadata"]["name"]


@pytest.mark.parametrize("values", ALL, ids=IDS)
def test_controller_and_webhook_arguments_are_their_programs_flags(values: Path | None) -> None:
    objs = render(*_files(values))
    parser = build_parser()
    programs = {ep.name for ep in entry_points(group="pymetallb.commands")}
    for kind, name in (("Deployment", "controller"), ("Deployment", "webhook"), ("DaemonSet", "speaker")):
        try:
            args = _container(objs, kind, name)["args"]
        except AssertionError:
            continue  # disabled in these values
        if args[0] not in programs:
            # The speaker program has not landed on this branch: its flags as announced for it (issue 9/11).
            known = ("--port=", "--log-level=", "--lb-class=", "--ml-bindport=", "--ml-secret-key-path=")
            known += ("--excludel2-path=", "--ignore-exclude-lb", "--answer-ping", "--ml-probe-interval=")
            known += ("--ml-suspicion-max-mult=",)
            assert [a for a in args[1:] if not a.startswith(known)] == [], args
            continue
        parsed = parser.parse_args(args)  # SystemExit(2) on an unknown flag
        assert parsed.command == args[0]


def test_every_alert_and_panel_query_parses_with_prometheus() -> None:
    """Prometheus's own parser (github.com/prometheus/prometheus/promql/parser, the one promtool uses)."""
    rules = alert_rules(render(VALUES["monitoring"]))
    exprs = [(r["alert"], r["expr"]) for r in rules]
    exprs += [(title, grafana_to_promql(q)) for title, q in dashboard_queries()]
    results = parse_promql([e for _, e in exprs])
    bad = [(name, expr, res["error"]) for (name, expr), res in zip(exprs, results, strict=True) if res["error"]]
    assert bad == []
    assert all(res["metrics"] for res in results), "every query reads a metric"


def test_the_parser_check_can_fail() -> None:
    res = parse_promql(["sum(rate(x[5m])", "metallb_bgp_session_up == 0"])
    assert res[0]["error"] and "unclosed" in res[0]["error"]
    assert res[1] == {"error": None, "metrics": ["metallb_bgp_session_up"]}
