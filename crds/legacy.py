"""MetalLB's legacy ConfigMap (≤ v0.12) and its conversion into CRs (``pymetallb migrate``).

The mapping and naming follow MetalLB's ``configmaptocrs`` (``peer<N>``, ``bgpadvertisement<N>``,
``l2advertisement<N>``, one ``communities`` Community, ``holdTime`` defaulting to ``1m30s``, names made
valid for Kubernetes). Better than upstream:

* the legacy config is read strictly: an unknown key, a wrong type, a missing or unknown ``protocol``
  (``l2`` instead of ``layer2`` is a typo, not a pool to drop silently) is an error naming its location;
* ``bgp-advertisements`` on a layer2 pool is an error (upstream converts them into BGP advertisements,
  which the legacy speaker never had);
* every lossy or surprising choice is returned as a warning (the CLI prints them on stderr);
* the converted CRs are parsed by ``parse_config`` before anything is printed; a problem is reported
  with the legacy location it came from, and nothing partial is output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from . import yamlio
from .config import ClusterResources, ParseOptions, format_go_duration, parse_config, parse_go_duration
from .errors import LegacyConfigError
from .meta import LabelSelector, LabelSelectorRequirement, Resource
from .schema import dump_yaml
from .text import go_quote
from .types import (
    BFDProfile,
    BFDProfileSpec,
    BGPAdvertisement,
    BGPAdvertisementSpec,
    BGPPeer,
    BGPPeerSpec,
    Community,
    CommunityAlias,
    CommunitySpec,
    IPAddressPool,
    IPAddressPoolSpec,
    L2Advertisement,
    L2AdvertisementSpec,
)

__all__ = [
    "LegacyConfig",
    "MigrationResult",
    "convert",
    "convert_text",
    "k8s_name",
    "read_legacy",
]

DEFAULT_NAMESPACE = "metallb-system"
DEFAULT_HOLD_TIME = 90.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=True)


class LegacyMatchExpression(_Strict):
    key: str
    operator: str
    values: list[str] = Field(default_factory=list)


class LegacyNodeSelector(_Strict):
    match_labels: dict[str, str] = Field(default_factory=dict, alias="match-labels")
    match_expressions: list[LegacyMatchExpression] = Field(default_factory=list, alias="match-expressions")


class LegacyPeer(_Strict):
    my_asn: int = Field(alias="my-asn", ge=0, le=4294967295)
    peer_asn: int = Field(alias="peer-asn", ge=0, le=4294967295)
    peer_address: str = Field(alias="peer-address")
    source_address: str | None = Field(default=None, alias="source-address")
    peer_port: int | None = Field(default=None, alias="peer-port", ge=1, le=65535)
    hold_time: str | None = Field(default=None, alias="hold-time")
    keepalive_time: str | None = Field(default=None, alias="keepalive-time")
    router_id: str | None = Field(default=None, alias="router-id")
    password: str | None = None
    bfd_profile: str | None = Field(default=None, alias="bfd-profile")
    ebgp_multihop: bool | None = Field(default=None, alias="ebgp-multihop")
    node_selectors: list[LegacyNodeSelector] = Field(default_factory=list, alias="node-selectors")


class LegacyBGPAdvertisement(_Strict):
    aggregation_length: int | None = Field(default=None, alias="aggregation-length")
    aggregation_length_v6: int | None = Field(default=None, alias="aggregation-length-v6")
    localpref: int | None = Field(default=None, ge=0, le=4294967295)
    communities: list[str] = Field(default_factory=list)


class LegacyPool(_Strict):
    name: str
    protocol: str | None = None
    addresses: list[str] = Field(default_factory=list)
    auto_assign: bool | None = Field(default=None, alias="auto-assign")
    avoid_buggy_ips: bool | None = Field(default=None, alias="avoid-buggy-ips")
    bgp_advertisements: list[LegacyBGPAdvertisement] | None = Field(default=None, alias="bgp-advertisements")


class LegacyBFDProfile(_Strict):
    name: str
    receive_interval: int | None = Field(default=None, alias="receive-interval")
    transmit_interval: int | None = Field(default=None, alias="transmit-interval")
    detect_multiplier: int | None = Field(default=None, alias="detect-multiplier")
    echo_interval: int | None = Field(default=None, alias="echo-interval")
    echo_mode: bool | None = Field(default=None, alias="echo-mode")
    passive_mode: bool | None = Field(default=None, alias="passive-mode")
    minimum_ttl: int | None = Field(default=None, alias="minimum-ttl")


class LegacyConfig(_Strict):
    """The ``config`` key of MetalLB's ConfigMap, read strictly."""

    peers: list[LegacyPeer] = Field(default_factory=list)
    bgp_communities: dict[str, str] = Field(default_factory=dict, alias="bgp-communities")
    address_pools: list[LegacyPool] = Field(default_factory=list, alias="address-pools")
    bfd_profiles: list[LegacyBFDProfile] = Field(default_factory=list, alias="bfd-profiles")


@dataclass(frozen=True)
class MigrationResult:
    objects: tuple[Resource, ...]
    warnings: tuple[str, ...]
    yaml: str


# --- reading -----------------------------------------------------------------------------------------


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _yaml(text: str, what: str) -> Any:
    try:
        return yamlio.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{what} line {mark.line + 1} column {mark.column + 1}" if mark else what
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LegacyConfigError(where, f"invalid YAML: {problem}") from None


def read_legacy(text: str, *, only_data: bool = False) -> tuple[LegacyConfig, str | None]:
    """The legacy config in ``text`` (a ConfigMap manifest or the bare config) and the ConfigMap's namespace."""
    doc = _yaml(text, "input")
    namespace: str | None = None
    if not only_data and isinstance(doc, dict) and doc.get("kind") == "ConfigMap":
        meta = doc.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("namespace"), str):
            namespace = meta["namespace"]
        data = doc.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("config"), str):
            raise LegacyConfigError(
                "data.config", "bad ConfigMap: no data (expected the legacy config under data.config)"
            )
        doc = _yaml(data["config"], "data.config")
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise LegacyConfigError("", f"expected the legacy config to be a mapping, got {type(doc).__name__}")
    try:
        return LegacyConfig.model_validate(doc), namespace
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = _loc(tuple(first["loc"]))
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = f"unknown key {go_quote(str(first['loc'][-1]))}"
        elif first["type"] == "missing":
            msg = "required key is missing"
        more = len(exc.errors()) - 1
        if more:
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise LegacyConfigError(where, msg) from None


# --- names -------------------------------------------------------------------------------------------

_VALID_NAME = re.compile(r"^[a-z][-a-z0-9]{0,61}[a-z0-9]$")


def k8s_name(name: str, kind: str) -> str:
    """A valid Kubernetes name for ``name``, as upstream's ``formatToK8S`` makes it, then a little further.

    Upstream truncates to 63, lowercases, turns ``_`` into ``-`` and drops leading characters before the
    first letter. We also turn other invalid characters into ``-`` and drop trailing non-alphanumerics, so
    the result is always a valid name (upstream can produce ``pool-``, which the apiserver rejects).
    """
    if _VALID_NAME.match(name):
        return name
    out = name[:63].lower().replace("_", "-")
    m = re.search(r"[a-z]", out)
    if not m:
        raise LegacyConfigError("", f"failed to make {kind} K8S compatible: {name}")
    out = re.sub(r"[^-a-z0-9]", "-", out[m.start() :]).rstrip("-")
    if not out:
        raise LegacyConfigError("", f"failed to make {kind} K8S compatible: {name}")
    return out


# --- conversion --------------------------------------------------------------------------------------


def _selector(sel: LegacyNodeSelector) -> LabelSelector:
    data: dict[str, Any] = {}
    if sel.match_labels:
        data["matchLabels"] = dict(sel.match_labels)
    if sel.match_expressions:
        data["matchExpressions"] = [
            LabelSelectorRequirement(key=e.key, operator=e.operator, values=tuple(e.values) or None)
            for e in sel.match_expressions
        ]
    return LabelSelector.model_validate(data)


def _seconds(text: str, where: str, what: str) -> float:
    try:
        return parse_go_duration(text)
    except ValueError:
        raise LegacyConfigError(where, f"invalid {what} {go_quote(text)}: not a duration (e.g. 90s, 1m30s)") from None


_S = TypeVar("_S", bound=BaseModel)

# CR field -> legacy key, for the CR limits that the legacy format did not have (peerPort <= 16384, ...).
_LEGACY_KEY = {
    "peerPort": "peer-port",
    "aggregationLength": "aggregation-length",
    "aggregationLengthV6": "aggregation-length-v6",
    "localPref": "localpref",
    "receiveInterval": "receive-interval",
    "transmitInterval": "transmit-interval",
    "detectMultiplier": "detect-multiplier",
    "echoInterval": "echo-interval",
    "minimumTtl": "minimum-ttl",
}


def _spec(model: type[_S], data: dict[str, Any], where: str) -> _S:
    """``model.model_validate(data)``; a value the CRD does not allow is reported at its legacy key."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        place = f"{where}.{_LEGACY_KEY.get(key, key)}" if key else where
        raise LegacyConfigError(
            place, f"{first['input']!r} is not allowed in a {model.__name__.removesuffix('Spec')}: {first['msg']}"
        ) from None


def convert(
    cfg: LegacyConfig, *, namespace: str = DEFAULT_NAMESPACE
) -> tuple[list[Resource], list[str], dict[str, str]]:
    """CRs for a legacy config, the warnings, and for each ``Kind/name`` the legacy location it came from."""
    warnings: list[str] = []
    origin: dict[str, str] = {}
    meta = {"namespace": namespace}

    def rename(name: str, kind: str, where: str) -> str:
        try:
            new = k8s_name(name, kind)
        except LegacyConfigError as exc:
            raise LegacyConfigError(where, exc.what) from None
        if new != name:
            warnings.append(f"{where}: changing {kind} name from {go_quote(name)} to {go_quote(new)}")
        return new

    pool_names: dict[str, str] = {}
    for i, pool in enumerate(cfg.address_pools):
        where = f"address-pools[{i}]"
        if pool.protocol is None:
            raise LegacyConfigError(f"{where}.protocol", "address pool is missing the protocol field")
        if pool.protocol not in ("layer2", "bgp"):
            hint = " (did you mean layer2?)" if pool.protocol.lower() in ("l2", "layer-2", "arp", "layer_2") else ""
            raise LegacyConfigError(
                f"{where}.protocol",
                f"unknown protocol {go_quote(pool.protocol)}: expected layer2 or bgp{hint}",
            )
        for j, adv in enumerate(pool.bgp_advertisements or ()):
            if adv in (pool.bgp_advertisements or ())[:j]:
                raise LegacyConfigError(
                    f"{where}.bgp-advertisements[{j}]",
                    "duplicate definition of bgpadvertisements: the same as an earlier one of this pool",
                )
        if pool.protocol == "layer2" and pool.bgp_advertisements:
            raise LegacyConfigError(
                f"{where}.bgp-advertisements",
                "cannot have bgp-advertisements configuration element in a layer2 address pool",
            )
        new = rename(pool.name, "IPAddressPool", f"{where}.name")
        if new in pool_names.values():
            raise LegacyConfigError(f"{where}.name", f"pool name {go_quote(new)} is used twice")
        pool_names[pool.name] = new

    bfd_names: dict[str, str] = {}
    for i, prof in enumerate(cfg.bfd_profiles):
        bfd_names[prof.name] = rename(prof.name, "BFDProfile", f"bfd-profiles[{i}].name")

    peers: list[Resource] = []
    for i, p in enumerate(cfg.peers):
        where = f"peers[{i}]"
        name = f"peer{i + 1}"
        if p.hold_time is None:
            hold = DEFAULT_HOLD_TIME
            warnings.append(f"{where}: no hold-time; holdTime set to the legacy default 1m30s")
        else:
            raw = _seconds(p.hold_time, f"{where}.hold-time", "hold time")
            hold = float(int(raw))
            if hold != raw:
                warnings.append(f"{where}.hold-time: {p.hold_time} rounded down to {format_go_duration(hold)}")
        spec: dict[str, Any] = {
            "myASN": p.my_asn,
            "peerASN": p.peer_asn,
            "peerAddress": p.peer_address,
            "holdTime": format_go_duration(hold),
        }
        if p.keepalive_time is not None:
            raw = _seconds(p.keepalive_time, f"{where}.keepalive-time", "keepalive time")
            ka = float(int(raw))
            if ka != raw:
                warnings.append(f"{where}.keepalive-time: {p.keepalive_time} rounded down to {format_go_duration(ka)}")
            spec["keepaliveTime"] = format_go_duration(ka)
        if p.source_address is not None:
            spec["sourceAddress"] = p.source_address
        if p.peer_port is not None:
            spec["peerPort"] = p.peer_port
        if p.router_id is not None:
            spec["routerID"] = p.router_id
        if p.password is not None:
            spec["password"] = p.password
        if p.bfd_profile is not None:
            spec["bfdProfile"] = bfd_names.get(p.bfd_profile) or rename(
                p.bfd_profile, "BFDProfile", f"{where}.bfd-profile"
            )
        if p.ebgp_multihop is not None:
            spec["ebgpMultiHop"] = p.ebgp_multihop
        if p.node_selectors:
            spec["nodeSelectors"] = [_selector(s) for s in p.node_selectors]
        peer_spec = _spec(BGPPeerSpec, spec, where)
        for j, earlier in enumerate(peers):
            if earlier.spec == peer_spec:  # type: ignore[attr-defined]
                raise LegacyConfigError(where, f"peer #{i + 1} already exists: it is the same as peers[{j}]")
        peers.append(BGPPeer(metadata={"name": name, **meta}, spec=peer_spec))
        origin[f"BGPPeer/{name}"] = where

    pools: list[Resource] = []
    bgp_advs: list[Resource] = []
    l2_advs: list[Resource] = []
    bgp_index = 1
    l2_index = 1
    for i, pool in enumerate(cfg.address_pools):
        where = f"address-pools[{i}]"
        name = pool_names[pool.name]
        pspec: dict[str, Any] = {"addresses": list(pool.addresses)}
        if pool.auto_assign is not None:
            pspec["autoAssign"] = pool.auto_assign
        if pool.avoid_buggy_ips is not None:
            pspec["avoidBuggyIPs"] = pool.avoid_buggy_ips
        pools.append(IPAddressPool(metadata={"name": name, **meta}, spec=_spec(IPAddressPoolSpec, pspec, where)))
        origin[f"IPAddressPool/{name}"] = where
        if pool.protocol == "bgp":
            advs = pool.bgp_advertisements or [LegacyBGPAdvertisement()]
            for j, adv in enumerate(advs):
                aspec: dict[str, Any] = {"ipAddressPools": [name]}
                if adv.aggregation_length is not None:
                    aspec["aggregationLength"] = adv.aggregation_length
                if adv.aggregation_length_v6 is not None:
                    aspec["aggregationLengthV6"] = adv.aggregation_length_v6
                if adv.localpref is not None:
                    aspec["localPref"] = adv.localpref
                if adv.communities:
                    aspec["communities"] = list(adv.communities)
                adv_name = f"bgpadvertisement{bgp_index}"
                bgp_index += 1
                bgp_advs.append(
                    BGPAdvertisement(
                        metadata={"name": adv_name, **meta},
                        spec=_spec(
                            BGPAdvertisementSpec,
                            aspec,
                            f"{where}.bgp-advertisements[{j}]" if pool.bgp_advertisements else where,
                        ),
                    )
                )
                origin[f"BGPAdvertisement/{adv_name}"] = (
                    f"{where}.bgp-advertisements[{j}]" if pool.bgp_advertisements else where
                )
        else:
            adv_name = f"l2advertisement{l2_index}"
            l2_index += 1
            l2_advs.append(
                L2Advertisement(metadata={"name": adv_name, **meta}, spec=L2AdvertisementSpec(ip_address_pools=(name,)))
            )
            origin[f"L2Advertisement/{adv_name}"] = where

    bfds: list[Resource] = []
    for i, prof in enumerate(cfg.bfd_profiles):
        bspec = {
            "receiveInterval": prof.receive_interval,
            "transmitInterval": prof.transmit_interval,
            "detectMultiplier": prof.detect_multiplier,
            "echoInterval": prof.echo_interval,
            "echoMode": bool(prof.echo_mode),
            "passiveMode": bool(prof.passive_mode),
            "minimumTtl": prof.minimum_ttl,
        }
        bspec = {k: v for k, v in bspec.items() if v is not None}
        name = bfd_names[prof.name]
        bfds.append(
            BFDProfile(metadata={"name": name, **meta}, spec=_spec(BFDProfileSpec, bspec, f"bfd-profiles[{i}]"))
        )
        origin[f"BFDProfile/{name}"] = f"bfd-profiles[{i}]"

    communities: list[Resource] = []
    if cfg.bgp_communities:
        aliases = tuple(CommunityAlias(name=k, value=v) for k, v in sorted(cfg.bgp_communities.items()))
        communities.append(Community(metadata={"name": "communities", **meta}, spec=CommunitySpec(communities=aliases)))
        origin["Community/communities"] = "bgp-communities"

    return [*peers, *pools, *bgp_advs, *l2_advs, *bfds, *communities], warnings, origin


def _check(objects: list[Resource], origin: dict[str, str]) -> None:
    """Parse the converted CRs with the one parser (no backend restrictions), as upstream does."""
    resources = ClusterResources(
        pools=tuple(o for o in objects if isinstance(o, IPAddressPool)),
        peers=tuple(o for o in objects if isinstance(o, BGPPeer)),
        bfd_profiles=tuple(o for o in objects if isinstance(o, BFDProfile)),
        bgp_advertisements=tuple(o for o in objects if isinstance(o, BGPAdvertisement)),
        l2_advertisements=tuple(o for o in objects if isinstance(o, L2Advertisement)),
        communities=tuple(o for o in objects if isinstance(o, Community)),
    )
    result = parse_config(resources, ParseOptions(bgp_mode=None))
    if result.errors:
        err = result.errors[0]
        where = origin.get(err.where, err.where)
        what = "; ".join(p for p in err.what.split("\n") if p)
        more = len(result.errors) - 1
        if more:
            what += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise LegacyConfigError(where, what)


_HEADER = "# Converted from a MetalLB ConfigMap by `pymetallb migrate`.\n"


def render(objects: list[Resource]) -> str:
    return _HEADER + "".join("---\n" + dump_yaml(o.dump()) for o in objects)


def convert_text(text: str, *, namespace: str | None = None, only_data: bool = False) -> MigrationResult:
    """Everything ``pymetallb migrate`` does, as data. Raises LegacyConfigError; never prints."""
    cfg, cm_namespace = read_legacy(text, only_data=only_data)
    objects, warnings, origin = convert(cfg, namespace=namespace or cm_namespace or DEFAULT_NAMESPACE)
    _check(objects, origin)
    return MigrationResult(tuple(objects), tuple(warnings), render(objects))
