"""BGP community values: ``A:B`` (RFC 1997, two 16-bit halves) and ``large:A:B:C`` (RFC 8092, three 32-bit).

Error texts are MetalLB's (``internal/bgp/community/community.go``), including Go's ``strconv`` wording.
"""

from __future__ import annotations

from dataclasses import dataclass

from .text import go_quote

__all__ = ["Community", "CommunityFormatError", "CommunityValueError", "parse_community"]


class CommunityValueError(ValueError):
    """The string has a community's shape but a bad part: always an error."""


class CommunityFormatError(ValueError):
    """The string is not shaped like a community at all: it may be an alias defined later."""


@dataclass(frozen=True, order=True)
class Community:
    """A community as a sortable key. Legacy ``A:B`` sorts as the large community ``(A<<16|B):0:0``."""

    sort_key: tuple[int, int, int]
    large: bool

    def __str__(self) -> str:
        g, l1, l2 = self.sort_key
        if self.large:
            return f"large:{g}:{l1}:{l2}"
        return f"{g >> 16}:{g & 0xFFFF}"

    @property
    def value(self) -> int:
        """The 32-bit value of a legacy community."""
        return self.sort_key[0]


def _uint(section: str, community: str, bits: int) -> int:
    err = None
    if not section or not section.isdigit() or not section.isascii():
        err = f"strconv.ParseUint: parsing {go_quote(section)}: invalid syntax"
    elif int(section) >= 1 << bits:
        err = f"strconv.ParseUint: parsing {go_quote(section)}: value out of range"
    if err is not None:
        raise CommunityValueError(
            f"invalid community value: invalid section {go_quote(section)} of community {go_quote(community)}, "
            f"err: {go_quote(err)}"
        )
    return int(section)


def parse_community(text: str) -> Community:
    fields = text.split(":")
    if len(fields) == 2:
        hi, lo = (_uint(f, text, 16) for f in fields)
        return Community(((hi << 16) | lo, 0, 0), large=False)
    if len(fields) == 4:
        if fields[0] != "large":
            raise CommunityValueError(
                "invalid community value: invalid marker for large community, expected community to be of format "
                f"large:<uint32>:<uint32>:<uint32> but got {go_quote(text)} instead"
            )
        g, l1, l2 = (_uint(f, text, 32) for f in fields[1:])
        return Community((g, l1, l2), large=True)
    raise CommunityFormatError(f"invalid community format: {text}")
