"""Formatting helpers that reproduce Go's ``%q`` and ``%v`` where MetalLB's messages use them."""

from __future__ import annotations

__all__ = ["go_quote"]


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``): double-quoted, with Go's escapes for what is not printable."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # nothing to escape: the common case, without a loop per character
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ch == " " or ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


# strconv.Quote's short escapes; other non-printable runes get \x, \u or \U.
_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
