"""The doctor's pure judgements (reconciler/doctor/checks.py, report.py, probes.parse_macs) on hand-made snapshots:
each check's verdict and its words, the exit code, the stable JSON keys."""

from __future__ import annotations

import datetime
import json

import pytest

from reconciler.doctor.checks import (
    ArpAnswer,
    arp_checks,
    crd_checks,
    expected_crds,
    kube_proxy_check,
    lease_check,
    memberlist_check,
    speaker_checks,
)
from reconciler.doctor.probes import parse_macs
from reconciler.doctor.report import Check, Report, Status
from reconciler.doctor.snapshot import Snapshot, Unreadable

NOW = datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=datetime.UTC)


def _lease(renewed: str, duration: int = 15) -> dict[str, object]:
    return {"spec": {"holderIdentity": "ctl-1", "leaseDurationSeconds": duration, "renewTime": renewed}}


@pytest.mark.parametrize(
    ("renewed", "status", "details"),
    [
        pytest.param(
            "2026-12-01T11:59:55.000000Z", Status.OK, "held by ctl-1, renewed 5s ago (duration 15s)", id="fresh"
        ),
        pytest.param(
            "2026-12-01T11:59:40.000000Z",
            Status.FAIL,
            "Lease held by ctl-1 is stale: renewed 20s ago, lease duration 15s",
            id="stale-after-duration",
        ),
    ],
)
def test_lease_is_fresh_within_its_duration(renewed: str, status: Status, details: str) -> None:
    snap = Snapshot("metallb-system", lease=_lease(renewed))
    check = lease_check(snap, NOW)
    assert (check.status, check.details) == (status, details)


def test_missing_lease_says_no_controller_led() -> None:
    check = lease_check(Snapshot("metallb-system"), NOW)
    assert check.status is Status.FAIL
    assert "no controller has ever led" in check.details


def test_forbidden_read_names_the_permission() -> None:
    denied = Unreadable("get secrets in namespace metallb-system (memberlist)", "forbidden", True)
    check = memberlist_check(Snapshot("metallb-system", memberlist=denied))
    assert check.status is Status.FAIL
    assert check.details.startswith("Forbidden: cannot get secrets in namespace metallb-system (memberlist)")


@pytest.mark.parametrize(
    ("conf", "status"),
    [
        pytest.param("mode: iptables\n", Status.OK, id="iptables-needs-nothing"),
        pytest.param("mode: ipvs\nipvs:\n  strictARP: true\n", Status.OK, id="ipvs-strict"),
        pytest.param("mode: ipvs\nipvs:\n  strictARP: false\n", Status.FAIL, id="ipvs-not-strict"),
        pytest.param("mode: ipvs\n", Status.FAIL, id="ipvs-default-is-not-strict"),
        pytest.param("mode: [ipvs\n", Status.WARN, id="unparseable"),
    ],
)
def test_kube_proxy_strict_arp(conf: str, status: Status) -> None:
    snap = Snapshot("metallb-system", kube_proxy={"data": {"config.conf": conf}})
    assert kube_proxy_check(snap).status is status


def test_control_plane_node_without_speaker_is_a_warning_other_nodes_fail() -> None:
    cp = {
        "metadata": {"name": "cp"},
        "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]},
    }
    worker = {"metadata": {"name": "w1"}}
    valid = {"metadata": {"name": "speaker-w2"}, "status": {"result": "Valid"}}
    invalid = {"metadata": {"name": "speaker-w3"}, "status": {"result": "Invalid", "errorSummary": "a\nb"}}
    nodes = [cp, worker, {"metadata": {"name": "w2"}}, {"metadata": {"name": "w3"}}]
    got = {
        c.subject: (c.status, c.details) for c in speaker_checks(Snapshot("m", nodes=nodes, states=[valid, invalid]))
    }
    assert got["cp"][0] is Status.WARN
    assert got["w1"] == (
        Status.FAIL,
        "no ConfigurationState speaker-w1: no speaker runs on this node (or it cannot write its state)",
    )
    assert got["w2"] == (Status.OK, "speaker-w2 reports Valid")
    assert got["w3"] == (Status.FAIL, "speaker-w3 reports Invalid: a; b")


def test_crds_missing_one_is_named() -> None:
    names = sorted(expected_crds())
    crds = {
        n: {"spec": {"versions": [{"name": v, "served": True, "storage": True} for v in expected_crds()[n]]}}
        for n in names[1:]
    }
    crds[names[0]] = None
    [check] = crd_checks(Snapshot("m", crds=dict(crds)))
    assert check.status is Status.FAIL
    assert f"{names[0]} is not installed" in check.details


@pytest.mark.parametrize(
    ("macs", "status", "details"),
    [
        pytest.param(("02:00:00:00:00:01",), Status.OK, "02:00:00:00:00:01 answers ARP on eth0", id="one"),
        pytest.param((), Status.FAIL, "nobody answers ARP on eth0", id="none"),
        pytest.param(
            ("02:00:00:00:00:01", "02:00:00:00:00:02"),
            Status.FAIL,
            "2 MACs answer ARP on eth0: 02:00:00:00:00:01, 02:00:00:00:00:02 (duplicate announcers)",
            id="duplicate",
        ),
    ],
)
def test_arp_answers(macs: tuple[str, ...], status: Status, details: str) -> None:
    [check] = arp_checks([ArpAnswer("198.51.100.10", "eth0", macs)])
    assert (check.status, check.details, check.subject) == (status, details, "198.51.100.10")


def test_parse_macs_reads_both_arpings_and_ndisc6() -> None:
    habets = (
        "ARPING 198.51.100.10\n"
        "42 bytes from 02:aa:bb:cc:dd:01 (198.51.100.10): index=0 time=1.1 msec\n"
        "42 bytes from 02:AA:BB:CC:DD:02 (198.51.100.10): index=1 time=1.2 msec\n"
        "42 bytes from 02:aa:bb:cc:dd:01 (198.51.100.10): index=2 time=1.0 msec\n"
    )
    iputils = (
        "ARPING 198.51.100.10 from 198.51.100.2 eth0\nUnicast reply from 198.51.100.10 [02:AA:BB:CC:DD:03]  0.6ms\n"
    )
    ndisc6 = "Soliciting 2001:db8::100 (2001:db8::100) on eth0...\nTarget link-layer address: 02:AA:BB:CC:DD:04\n"
    assert parse_macs(habets) == ("02:aa:bb:cc:dd:01", "02:aa:bb:cc:dd:02")
    assert parse_macs(iputils) == ("02:aa:bb:cc:dd:03",)
    assert parse_macs(ndisc6) == ("02:aa:bb:cc:dd:04",)
    assert parse_macs("Timeout\nSent 3 probes (3 broadcast(s))\n") == ()


def test_report_exit_code_and_stable_json_keys() -> None:
    warn = Report((Check("a", Status.OK, "fine"), Check("b", Status.WARN, "hm", "look")))
    fail = Report((*warn.checks, Check("c", Status.FAIL, "broken", "fix it", "ns/svc")))
    assert (warn.exit_code, fail.exit_code) == (0, 1)
    body = json.loads(fail.to_json())
    assert body["ok"] is False
    assert body["summary"] == {"ok": 1, "warn": 1, "fail": 1}
    assert body["checks"][2] == {
        "name": "c",
        "subject": "ns/svc",
        "status": "fail",
        "details": "broken",
        "fix": "fix it",
    }
    table = fail.to_table(width=100)
    assert table.splitlines()[0].split() == ["CHECK", "STATUS", "DETAILS", "WHAT", "TO", "DO"]
    assert "1 ok, 1 warning(s), 1 failure(s)" in table


# ---- Services: the announcer against the election, lb-class, BGP, the config over live objects ---------------

NS = "metallb-system"


def _svc(name: str, ip: str | None, lb_class: str | None = None) -> dict[str, object]:
    spec: dict[str, object] = {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}
    if lb_class:
        spec["loadBalancerClass"] = lb_class
    status = {"loadBalancer": {"ingress": [{"ip": ip}]}} if ip else {}
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec, "status": status}


def _status(kind: str, node: str, service: str, **extra: object) -> dict[str, object]:
    labels = {"metallb.io/node": node, "metallb.io/service-name": service, "metallb.io/service-namespace": "default"}
    return {"kind": kind, "metadata": {"name": f"{kind}-{node}", "labels": labels}, "status": {"node": node, **extra}}


def _snapshot(**kw: object) -> Snapshot:
    pools = [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "l2", "namespace": NS},
            "spec": {"addresses": ["198.51.100.0/28"]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "bgp", "namespace": NS},
            "spec": {"addresses": ["203.0.113.0/28"]},
        },
    ]
    l2 = [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "l2", "namespace": NS},
            "spec": {"ipAddressPools": ["l2"], "nodeSelectors": [{"matchLabels": {"l2": "yes"}}]},
        }
    ]
    bgp = [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "bgp", "namespace": NS},
            "spec": {"ipAddressPools": ["bgp"]},
        }
    ]
    nodes = [{"metadata": {"name": "n1", "labels": {"l2": "yes"}}}, {"metadata": {"name": "n2"}}]
    slices = [
        {
            "metadata": {"name": f"{s}-1", "namespace": "default", "labels": {"kubernetes.io/service-name": s}},
            "endpoints": [{"addresses": ["192.0.2.9"], "nodeName": "n2", "conditions": {"ready": True}}],
        }
        for s in ("web", "routed")
    ]
    base: dict[str, object] = {
        "config": {"pools": pools, "l2_advertisements": l2, "bgp_advertisements": bgp},
        "nodes": nodes,
        "slices": slices,
    }
    base.update(kw)
    return Snapshot(NS, **base)  # type: ignore[arg-type]


def _service_verdicts(snap: Snapshot, lb_class: str | None = None) -> dict[tuple[str, str], tuple[Status, str]]:
    from reconciler.doctor.checks import parse_live_config, service_checks

    config, errors, _, _ = parse_live_config(snap)
    assert errors == []
    return {(c.name, c.subject): (c.status, c.details) for c in service_checks(snap, config, lb_class=lb_class)}


def test_l2_announcer_on_another_node_than_the_election_is_a_warning() -> None:
    snap = _snapshot(services=[_svc("web", "198.51.100.5")], l2_statuses=[_status("l2", "n2", "web")])
    got = _service_verdicts(snap)
    assert got[("service-l2", "default/web")] == (
        Status.WARN,
        "announced by n2, but the election over the live Nodes says n1",
    )


def test_l2_announcer_the_election_picks_is_ok() -> None:
    snap = _snapshot(services=[_svc("web", "198.51.100.5")], l2_statuses=[_status("l2", "n1", "web")])
    assert _service_verdicts(snap)[("service-l2", "default/web")] == (Status.OK, "announced from n1")


def test_l2_nobody_announcing_fails_and_names_the_elected_node() -> None:
    snap = _snapshot(services=[_svc("web", "198.51.100.5")])
    status, details = _service_verdicts(snap)[("service-l2", "default/web")]
    assert (status, details) == (Status.FAIL, "no node announces it (the election says n1)")


def test_bgp_lists_each_node_and_its_peers() -> None:
    statuses = [_status("bgp", "n2", "routed", peers=["r1", "r2"]), _status("bgp", "n1", "routed", peers=["r1"])]
    snap = _snapshot(services=[_svc("routed", "203.0.113.3")], bgp_statuses=statuses)
    assert _service_verdicts(snap)[("service-bgp", "default/routed")] == (
        Status.OK,
        "advertised: n1 → r1; n2 → r1, r2",
    )


def test_other_load_balancer_class_is_excluded_with_a_warning() -> None:
    snap = _snapshot(services=[_svc("web", None, lb_class="other.example/lb")])
    status, details = _service_verdicts(snap)[("service", "default/web")]
    assert status is Status.WARN
    assert details == "loadBalancerClass other.example/lb is not ours (none): excluded"


def test_an_address_outside_every_pool_fails_the_announcement() -> None:
    snap = _snapshot(services=[_svc("web", "192.0.2.77")])
    assert _service_verdicts(snap)[("service-announce", "default/web")][0] is Status.FAIL


def test_live_config_errors_are_where_colon_what() -> None:
    from reconciler.doctor.checks import parse_live_config

    snap = _snapshot()
    assert isinstance(snap.config["pools"], list)
    snap.config["pools"].append(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "clash", "namespace": NS},
            "spec": {"addresses": ["198.51.100.8/29"]},
        }
    )
    config, errors, _, _ = parse_live_config(snap)
    assert config is None
    assert errors == [
        'IPAddressPool/l2: CIDR "198.51.100.0/28" in pool "l2" overlaps with already defined CIDR "198.51.100.8/29"'
    ]


def test_arp_targets_are_the_l2_ips_of_our_selected_services() -> None:
    from reconciler.doctor.checks import l2_ips, parse_live_config

    services = [
        _svc("web", "198.51.100.5"),
        _svc("routed", "203.0.113.3"),
        _svc("theirs", "198.51.100.6", lb_class="other.example/lb"),
        _svc("other", "198.51.100.7"),
    ]
    snap = _snapshot(services=services)
    config, _, _, _ = parse_live_config(snap)
    assert l2_ips(snap, config, None, None) == ["198.51.100.5", "198.51.100.7"]
    assert l2_ips(snap, config, {"default/web"}, None) == ["198.51.100.5"]
    assert l2_ips(snap, None, None, None) == []
