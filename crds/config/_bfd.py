"""BFDProfile: name and value ranges, as MetalLB's ``bfdProfileFromCR``."""

from __future__ import annotations

from collections.abc import Sequence

from ..types import BFDProfile
from ._collect import Collector
from ._model import BFDProfileConfig

_BFD_RANGES = (
    ("detect_multiplier", 2, 255, "invalid detect multiplier value"),
    ("receive_interval", 10, 60000, "invalid receive interval value"),
    ("transmit_interval", 10, 60000, "invalid transmit interval value"),
    ("minimum_ttl", 1, 254, "invalid minimum ttl value"),
    ("echo_interval", 10, 60000, "invalid echo interval value"),
)


def parse_bfd_profiles(out: Collector, profiles: Sequence[BFDProfile]) -> dict[str, BFDProfileConfig]:
    res: dict[str, BFDProfileConfig] = {}
    for i, p in enumerate(profiles):
        if not p.name:
            out.error("BFDProfile", "", f"parsing bfd profile #{i + 1}: missing bfd profile name")
            continue
        problem = None
        for attr, lo, hi, what in _BFD_RANGES:
            value = getattr(p.spec, attr)
            if value is not None and not lo <= value <= hi:
                problem = f"invalid value {value}, must be in {lo}-{hi} range\n{what}"
                break
        if problem:
            out.error("BFDProfile", p.name, f"parsing bfd profile #{i + 1}: {problem}")
            continue
        if p.name in res:
            continue
        s = p.spec
        res[p.name] = BFDProfileConfig(
            name=p.name,
            receive_interval=s.receive_interval,
            transmit_interval=s.transmit_interval,
            detect_multiplier=s.detect_multiplier,
            echo_interval=s.echo_interval,
            echo_mode=bool(s.echo_mode),
            passive_mode=bool(s.passive_mode),
            minimum_ttl=s.minimum_ttl,
        )
    return res
