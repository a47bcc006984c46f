"""Shared by the config parser tests: YAML snippets (``kind``, ``name``, then the object) into parser inputs."""

from __future__ import annotations

from typing import Any

import yaml

from crds.config import ClusterResources, ParseOptions, parse_config
from crds.types import BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement

KINDS: dict[str, tuple[type[Any], str]] = {
    "IPAddressPool": (IPAddressPool, "pools"),
    "BGPPeer": (BGPPeer, "peers"),
    "BFDProfile": (BFDProfile, "bfd_profiles"),
    "BGPAdvertisement": (BGPAdvertisement, "bgp_advertisements"),
    "L2Advertisement": (L2Advertisement, "l2_advertisements"),
    "Community": (Community, "communities"),
}


def resources(text: str, **extra: Any) -> ClusterResources:
    groups: dict[str, list[Any]] = {}
    for doc in yaml.safe_load_all(text):
        cls, field = KINDS[doc.pop("kind")]
        name = doc.pop("name")
        groups.setdefault(field, []).append(cls.model_validate({"metadata": {"name": name, "namespace": "m"}, **doc}))
    return ClusterResources(**{k: tuple(v) for k, v in groups.items()}, **extra)


def errors(text: str, mode: str | None = "native", **extra: Any) -> list[str]:
    result = parse_config(resources(text, **extra), ParseOptions(bgp_mode=mode))  # type: ignore[arg-type]
    assert (result.config is None) == bool(result.errors)
    return [e.line() for e in result.errors]
