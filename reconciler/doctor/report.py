"""The doctor's result: checks with a status, what was found and what to do, rendered as a table or JSON.

Promises: ``Report.exit_code`` is 0 when every check is ok or warn and 1 when one fails; the JSON keys
(``checks``, ``name``, ``status``, ``details``, ``fix``, ``subject``, ``summary``, ``ok``) are stable, so scripts
may read them.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Check", "Report", "Status"]


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One finding. ``subject`` names what it is about (a node, a Service, an IP) when the check is per-object;
    ``fix`` is empty exactly when there is nothing to do."""

    name: str
    status: Status
    details: str
    fix: str = ""
    subject: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "subject": self.subject,
            "status": self.status.value,
            "details": self.details,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.status is not Status.FAIL for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> dict[str, int]:
        return {s.value: sum(1 for c in self.checks if c.status is s) for s in Status}

    def to_json(self) -> str:
        body = {"ok": self.ok, "summary": self.summary(), "checks": [c.to_json() for c in self.checks]}
        return json.dumps(body, indent=2, sort_keys=False) + "\n"

    def to_table(self, width: int | None = None) -> str:
        """Columns CHECK, STATUS, DETAILS, WHAT TO DO; long cells wrap inside their column."""
        width = width or max(100, shutil.get_terminal_size((140, 24)).columns)
        names = [c.name + (f" {c.subject}" if c.subject else "") for c in self.checks]
        first = min(max([len("CHECK"), *(len(n) for n in names)]), 40)
        rest = max(30, width - first - 6 - 4)
        details_w = rest // 2
        fix_w = rest - details_w
        lines = [f"{'CHECK':<{first}}  STATUS  {'DETAILS':<{details_w}}  WHAT TO DO"]
        for name, c in zip(names, self.checks, strict=True):
            cols = [
                textwrap.wrap(name, first) or [""],
                [c.status.value.upper() if c.status is not Status.OK else c.status.value],
                textwrap.wrap(c.details, details_w) or [""],
                textwrap.wrap(c.fix, fix_w) or [""],
            ]
            for i in range(max(len(col) for col in cols)):
                cell = [col[i] if i < len(col) else "" for col in cols]
                lines.append(f"{cell[0]:<{first}}  {cell[1]:<6}  {cell[2]:<{details_w}}  {cell[3]}".rstrip())
        s = self.summary()
        lines.append(f"\n{s['ok']} ok, {s['warn']} warning(s), {s['fail']} failure(s)")
        return "\n".join(lines) + "\n"
