"""Go's ``time.Duration`` in text: ``parse_go_duration`` reads what ``time.ParseDuration`` reads,
``format_go_duration`` prints what ``Duration.String()`` prints (MetalLB's timer messages embed both).
"""

from __future__ import annotations

import re

from ..text import go_quote

_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)")
_MAX_NS = (1 << 63) - 1  # time.Duration is an int64 of nanoseconds


def parse_go_duration_ns(text: str) -> int:
    """Nanoseconds in a Go duration string, as ``time.ParseDuration`` reads it. Raises ValueError.

    A fraction is truncated to whole nanoseconds, as Go truncates it; out of int64 range is an error.
    """
    s = text
    negative = s[:1] == "-"
    if s[:1] in ("+", "-"):
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {go_quote(text)}")
    pos = 0
    total = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m or not (m.group(1) or m.group(2)):
            raise ValueError(f"time: invalid duration {go_quote(text)}")
        unit = _UNIT_NS[m.group(3)]
        whole = int(m.group(1) or "0") * unit
        if m.group(2):
            whole += int(m.group(2)) * unit // 10 ** len(m.group(2))
        total += whole
        if total > _MAX_NS + (1 if negative else 0):
            raise ValueError(f"time: invalid duration {go_quote(text)}")
        pos = m.end()
    return -total if negative else total


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string (``90s``, ``1m30s``, ``1.5h``, ``300ms``, ``0``). Raises ValueError."""
    return parse_go_duration_ns(text.strip()) / 1e9


def _frac(value: int, digits: int) -> tuple[str, int]:
    """Go's ``fmtFrac``: the last ``digits`` decimal digits of ``value`` as a fraction without trailing zeros."""
    value, frac = divmod(value, 10**digits)
    text = f"{frac:0{digits}d}".rstrip("0")
    return ("." + text if text else ""), value


def format_go_duration_ns(ns: int) -> str:
    """Go's ``time.Duration.String()``: ``1h0m0s``, ``1m30s``, ``1.5s``, ``500ms``, ``1.5µs``, ``0s``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000_000_000:
        if u < 1_000:
            return f"{sign}{u}ns"
        digits, unit = (3, "µs") if u < 1_000_000 else (6, "ms")
        frac, whole = _frac(u, digits)
        return f"{sign}{whole}{frac}{unit}"
    frac, u = _frac(u, 9)
    text = f"{u % 60}{frac}s"
    u //= 60
    if u > 0:
        text = f"{u % 60}m{text}"
        u //= 60
        if u > 0:
            text = f"{u}h{text}"
    return sign + text


def format_go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()`` of ``seconds`` (rounded to whole nanoseconds)."""
    return format_go_duration_ns(round(seconds * 1e9))
