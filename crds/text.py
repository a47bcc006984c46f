"""Formatting helpers that reproduce Go's ``%q`` and ``%v`` where MetalLB's messages use them."""

from __future__ import annotations

__all__ = ["go_quote"]


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string: double-quoted with backslash escapes for quotes, backslashes and controls."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
