"""Structured logs: one JSON object per line with stable keys, MetalLB's names where it has them.

Promises: every line is one JSON object with ``ts`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``, ``msg``,
plus ``op`` and ``event`` when given and any other ``extra=`` fields, and ``error``/``traceback`` when an exception
is attached. Values that are not JSON types are written with ``str()``. ``setup_logging`` accepts MetalLB's level
names (``all``, ``debug``, ``info``, ``warn``, ``error``, ``none``) and replaces the root logger's handlers.

Usage: ``log.info("assigned %s", ip, extra={"op": "allocate", "event": "ipAllocated", "service": key})``.
(``message`` and ``msg`` are reserved by the stdlib and cannot be ``extra`` keys.)
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import traceback
from typing import Any, TextIO

__all__ = ["LOG_LEVELS", "JsonFormatter", "setup_logging"]

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

_LEVELS = {
    "all": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "none": logging.CRITICAL + 10,
}

LOG_LEVELS = tuple(_LEVELS)
"""The ``--log-level`` values every program accepts: MetalLB's names, plus ``warning`` (an earlier spelling)."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        out: dict[str, Any] = {
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
            "level": "warn" if record.levelno == logging.WARNING else record.levelname.lower(),
            "logger": record.name,
        }
        for key in ("op", "event"):
            if key in record.__dict__:
                out[key] = record.__dict__[key]
        out["msg"] = record.getMessage()
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            out.setdefault("error", str(record.exc_info[1]))
            out["traceback"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(out, default=str, ensure_ascii=False)


def setup_logging(level: str | int = "info", *, stream: TextIO | None = None) -> logging.Handler:
    """Send all logs to ``stream`` (stdout) as JSON lines at ``level``; returns the installed handler."""
    if isinstance(level, str):
        if level.lower() not in _LEVELS:
            raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(_LEVELS)}")
        levelno = _LEVELS[level.lower()]
    else:
        levelno = level
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(levelno)
    # One line per HTTP request is noise at info level; our own client logs what matters.
    logging.getLogger("aiohttp.access").setLevel(max(levelno, logging.WARNING))
    return handler
