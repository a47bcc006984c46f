"""Community CRs: each alias parsed once; a name defined twice is an error."""

from __future__ import annotations

from collections.abc import Sequence

from ..community import Community, CommunityFormatError, CommunityValueError, parse_community
from ..text import go_quote
from ..types import Community as CommunityCR
from ._collect import Collector


def parse_communities(out: Collector, crs: Sequence[CommunityCR]) -> dict[str, Community]:
    res: dict[str, Community] = {}
    for co in crs:
        for alias in co.spec.communities or ():
            name = alias.name or ""
            try:
                value = parse_community(alias.value or "")
            except (CommunityValueError, CommunityFormatError) as exc:
                out.error("Community", co.name, f"parsing community {go_quote(name)}: {exc}")
                continue
            if name in res:
                out.error("Community", co.name, f"duplicate definition of community {go_quote(name)}")
                continue
            res[name] = value
    return res
