"""MetalLB's own parser test cases, run through our parser: same verdict, and MetalLB's exact error text.

``data/metallb_parse_cases.json`` holds every case of MetalLB's ``TestParse`` (``internal/config/config_test.go``
at 7938d3f89) with the error its ``For(resources, DontValidate, opts)`` returned, produced by running that test
with a dump hook (``data/metallb_dump_cases_test.go.txt`` says how). Go serialised the resources as the apiserver
would; the file drops nulls and statuses and writes a nil ``addresses`` list as ``[]``.

MetalLB stops at its first error, we report every problem, so a case passes when MetalLB's text is one of ours
(and the case has no errors of ours when MetalLB had none). Where we differ on purpose the case is listed in
``DIFFERENT`` with the reason and what we say instead.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pydantic
import pytest

from crds.config import ClusterResources, LabeledObject, ParseOptions, SecretInfo, parse_config
from crds.types import BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement

DATA = json.loads((Path(__file__).parent / "data" / "metallb_parse_cases.json").read_text())
KINDS: dict[str, tuple[type[Any], str]] = {
    "ipaddresspools": (IPAddressPool, "pools"),
    "bgppeers": (BGPPeer, "peers"),
    "bfdprofiles": (BFDProfile, "bfd_profiles"),
    "bgpadvertisements": (BGPAdvertisement, "bgp_advertisements"),
    "l2advertisements": (L2Advertisement, "l2_advertisements"),
    "communities": (Community, "communities"),
}

# MetalLB's cases leave names empty, so several objects of one kind share the name "". A cluster cannot hold
# that (names are unique per kind); offline we report it (a later file would silently win), which MetalLB's
# tests never meet. Its own "peer already exists" rule compares whole peers, names included, so in a cluster
# it cannot fire.
_ADV_NAME = 'duplicate definition of BGPAdvertisement ""'
DIFFERENT: dict[str, list[str]] = {
    "duplicate peers": ['duplicate definition of BGPPeer ""'],
    "different local pref - different ipv4 aggregation length": [_ADV_NAME],
    "different local pref - different aggregation lengths": [_ADV_NAME],
    "different local pref - same peers & different nodes": [_ADV_NAME],
    "different local pref - different peers & same nodes": [_ADV_NAME],
}
# Bounds the CRD schema enforces (kubebuilder markers, so the apiserver refuses the object before MetalLB sees
# it) are enforced by our models too: these objects never reach the parser.
REFUSED_BY_SCHEMA = {"BFD Profile with too low receive interval", "BFD Profile with too high receive interval"}


def _labeled(items: list[dict[str, Any]] | None) -> tuple[LabeledObject, ...] | None:
    if items is None:
        return None
    return tuple(LabeledObject(o["metadata"].get("name", ""), o["metadata"].get("labels", {})) for o in items)


def _secret(raw: dict[str, Any]) -> SecretInfo:
    password = raw.get("data", {}).get("password")
    meta = raw.get("metadata", {})
    return SecretInfo(
        meta.get("name", ""),
        meta.get("namespace", ""),
        raw.get("type", ""),
        None if password is None else base64.b64decode(password).decode(),
    )


def _resources(crs: dict[str, Any]) -> ClusterResources:
    objects = {field: tuple(cls.model_validate(o) for o in crs.get(key, ())) for key, (cls, field) in KINDS.items()}
    return ClusterResources(
        **objects,
        secrets={name: _secret(s) for name, s in crs.get("passwordsecrets", {}).items()},
        nodes=_labeled(crs.get("nodes")),
        namespaces=_labeled(crs.get("namespaces")),
    )


CASES = [pytest.param(case, id=case["desc"]) for case in DATA["cases"]]


def test_the_case_file_is_not_empty() -> None:
    assert len(CASES) >= 90
    assert sum(1 for case in DATA["cases"] if case["error"]) >= 50


@pytest.mark.parametrize("case", CASES)
def test_metallb_parse_case(case: dict[str, Any]) -> None:
    if case["desc"] in REFUSED_BY_SCHEMA:
        assert case["error"] is not None
        with pytest.raises(pydantic.ValidationError):
            _resources(case["crs"])
        return
    options = ParseOptions(bgp_mode=None, secret_passthrough=case.get("frrK8sSecretPassthrough", False))
    result = parse_config(_resources(case["crs"]), options)
    ours = [error.what for error in result.errors]
    if case["desc"] in DIFFERENT:
        assert ours == DIFFERENT[case["desc"]]
    elif case["error"] is None:
        assert ours == []
    else:
        assert case["error"] in ours


# What the backend rules say (DiscardFRROnly for the native speaker, DiscardNativeOnly for FRR), so a case that
# MetalLB's validator accepts can be checked for none of them among our errors (its objects are often incomplete
# otherwise: a peer without an ASN, which the parser reports and the validator does not read).
_MODE_RULE_TEXTS = ("on native bgp mode", "bfd profiles section set", "native bgp mode", "native BGP mode", "FRR mode")
MODE_CASES = [
    pytest.param(mode, case, id=f"{mode}-{case['desc']}")
    for key, mode in (("native", "native"), ("frr", "frr"))
    for case in DATA[key]
]


def test_the_mode_case_files_are_not_empty() -> None:
    assert len(DATA["native"]) >= 15
    assert len(DATA["frr"]) >= 20


@pytest.mark.parametrize(("mode", "case"), MODE_CASES)
def test_metallb_backend_rule_case(mode: str, case: dict[str, Any]) -> None:
    result = parse_config(_resources(case["crs"]), ParseOptions(bgp_mode=mode))  # type: ignore[arg-type]
    ours = [error.what for error in result.errors]
    if case["error"] is None:
        assert [what for what in ours if any(text in what for text in _MODE_RULE_TEXTS)] == []
    else:
        assert case["error"] in ours
