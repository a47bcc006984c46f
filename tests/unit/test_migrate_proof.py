"""The migration proof: Services keep the IPs their status shows, or are named as movers with the reason."""

from __future__ import annotations

from typing import Any

from crds.types import IPAddressPool
from reconciler.migrate.proof import Mover, config_of, prove_keeps_ips


def pool(name: str, *addresses: str) -> IPAddressPool:
    return IPAddressPool.model_validate({"metadata": {"name": name}, "spec": {"addresses": list(addresses)}})


def service(name: str, ip: str | None = None, type_: str = "LoadBalancer") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": type_, "clusterIP": "10.96.0.10", "ports": [{"port": 80, "protocol": "TCP"}]},
    }
    if ip:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": ip}]}}
    return obj


def test_services_holding_ips_inside_the_pools_keep_them_even_when_not_the_lowest() -> None:
    config, errors = config_of([pool("office", "192.0.2.0/28")])
    assert config is not None and errors == []
    proof = prove_keeps_ips(config, [service("b", "192.0.2.9"), service("a", "192.0.2.5"), service("new")])
    assert proof.kept == ("default/a", "default/b") and proof.movers == ()
    assert proof.new == ("default/new",)


def test_a_service_outside_every_pool_is_a_mover_with_where_it_would_go() -> None:
    config, _ = config_of([pool("office", "192.0.2.0/30")])
    assert config is not None
    proof = prove_keeps_ips(config, [service("old", "198.51.100.7")])
    assert proof.movers == (Mover("default/old", ("198.51.100.7",), ("192.0.2.0",), "allocated from pool office"),)
    assert proof.movers[0].line() == (
        "Service default/old would move: 198.51.100.7 -> 192.0.2.0 (allocated from pool office)"
    )


def test_a_service_that_would_lose_its_ip_says_why() -> None:
    config, _ = config_of([pool("tiny", "192.0.2.0/32")])
    assert config is not None
    proof = prove_keeps_ips(config, [service("a", "192.0.2.0"), service("b", "198.51.100.1")])
    assert proof.kept == ("default/a",)
    assert proof.movers == (Mover("default/b", ("198.51.100.1",), (), 'no available IPs in pool "tiny"'),)


def test_services_not_of_type_load_balancer_are_not_judged() -> None:
    config, _ = config_of([pool("office", "192.0.2.0/30")])
    assert config is not None
    proof = prove_keeps_ips(config, [service("c", "198.51.100.1", type_="ClusterIP")])
    assert proof == prove_keeps_ips(config, [])
