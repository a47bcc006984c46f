"""BGPPeer v1beta1 ⇄ v1beta2 conversion, as pure functions over wire dicts (used by the conversion webhook).

Metadata is carried over untouched. v1beta1 → v1beta2 is lossless. v1beta2 → v1beta1 drops the fields
v1beta1 does not have (``localASN``, ``dynamicASN``, ``interface``, ``connectTime``, ``passwordSecret``,
``enableGracefulRestart``, ``vrf``, ``disableMP``, ``dualStackAddressFamily``), as MetalLB does; the
stored object keeps them.

Better than MetalLB: an absent v1beta1 ``holdTime``/``keepaliveTime`` stays absent. MetalLB turns it into
``0s``, which means "no keepalives at all" instead of "use the default of 90s".
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["V1BETA1", "V1BETA2", "convert_bgppeer", "to_v1beta1", "to_v1beta2"]

V1BETA1 = "metallb.io/v1beta1"
V1BETA2 = "metallb.io/v1beta2"

_COMMON = (
    "myASN",
    "peerASN",
    "peerAddress",
    "sourceAddress",
    "holdTime",
    "keepaliveTime",
    "routerID",
    "password",
    "bfdProfile",
    "ebgpMultiHop",
)


def _selector_to_v1beta2(sel: dict[str, Any]) -> dict[str, Any]:
    labels = sel.get("matchLabels") or {}
    exprs = sel.get("matchExpressions") or []
    if not labels and not exprs:
        return {}
    out: dict[str, Any] = {}
    if labels:
        out["matchLabels"] = dict(labels)
    if exprs:
        out["matchExpressions"] = [
            {
                "key": e.get("key", ""),
                "operator": e.get("operator", ""),
                "values": list(e.get("values") or []),
            }
            for e in exprs
        ]
    return out


def _selector_to_v1beta1(sel: dict[str, Any]) -> dict[str, Any]:
    return {
        "matchLabels": dict(sel.get("matchLabels") or {}),
        "matchExpressions": [
            {
                "key": e.get("key", ""),
                "operator": e.get("operator", ""),
                "values": list(e.get("values") or []),
            }
            for e in sel.get("matchExpressions") or []
        ],
    }


def to_v1beta2(obj: dict[str, Any]) -> dict[str, Any]:
    """A v1beta1 BGPPeer as v1beta2."""
    src = obj.get("spec") or {}
    spec: dict[str, Any] = {k: copy.deepcopy(src[k]) for k in _COMMON if k in src}
    port = src.get("peerPort")
    if port:
        spec["peerPort"] = port
    if "nodeSelectors" in src:
        spec["nodeSelectors"] = [_selector_to_v1beta2(s) for s in src.get("nodeSelectors") or []]
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("spec", "apiVersion")}
    out["apiVersion"] = V1BETA2
    out["spec"] = spec
    return out


def to_v1beta1(obj: dict[str, Any]) -> dict[str, Any]:
    """A v1beta2 BGPPeer as v1beta1 (lossy: v1beta2-only fields are dropped)."""
    src = obj.get("spec") or {}
    spec: dict[str, Any] = {k: copy.deepcopy(src[k]) for k in _COMMON if k in src}
    if "peerPort" in src:
        spec["peerPort"] = src["peerPort"]
    if "nodeSelectors" in src:
        spec["nodeSelectors"] = [_selector_to_v1beta1(s) for s in src.get("nodeSelectors") or []]
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("spec", "apiVersion")}
    out["apiVersion"] = V1BETA1
    out["spec"] = spec
    return out


def convert_bgppeer(obj: dict[str, Any], desired_api_version: str) -> dict[str, Any]:
    """Convert one BGPPeer to ``desired_api_version``; raises ValueError for versions we do not serve."""
    current = obj.get("apiVersion")
    if current not in (V1BETA1, V1BETA2):
        raise ValueError(f"unsupported apiVersion {current!r} for BGPPeer")
    if desired_api_version not in (V1BETA1, V1BETA2):
        raise ValueError(f"unsupported desiredAPIVersion {desired_api_version!r} for BGPPeer")
    if current == desired_api_version:
        return copy.deepcopy(obj)
    return to_v1beta2(obj) if desired_api_version == V1BETA2 else to_v1beta1(obj)
