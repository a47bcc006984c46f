"""The ``admission.k8s.io/v1`` AdmissionReview wire format: decode a request, encode a decision. Pure.

``decode_review(body)`` accepts only a well-formed review (a JSON object with ``apiVersion``
``admission.k8s.io/v1``, ``kind: AdmissionReview`` and a ``request`` carrying a string ``uid`` and a known
``operation``); anything else raises ``BadRequest``, which the server answers with HTTP 400 and a short message.
Everything inside the request that the apiserver owns (``object``, ``oldObject``) is kept as raw JSON; the rules
judge it and deny what they cannot read.

``encode_response(uid, decision)`` builds the reply the apiserver expects. A denial carries HTTP-like code 403 and
reason ``Forbidden``, as controller-runtime's ``admission.Denied`` does, so users see
``admission webhook "<name>" denied the request: <message>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, cast

__all__ = [
    "ADMISSION_API_VERSION",
    "MAX_BODY_BYTES",
    "AdmissionRequest",
    "BadRequest",
    "Decision",
    "Operation",
    "allow",
    "decode_json",
    "decode_review",
    "deny",
    "encode_response",
]

ADMISSION_API_VERSION = "admission.k8s.io/v1"

#: The apiserver sends at most ~3 MiB objects (etcd's 1.5 MiB limit, twice for UPDATE, plus envelope).
MAX_BODY_BYTES = 8 * 1024 * 1024

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
_OPERATIONS: frozenset[str] = frozenset(("CREATE", "UPDATE", "DELETE", "CONNECT"))


class BadRequest(ValueError):
    """The body is not an AdmissionReview (or ConversionReview) we can answer; ``str()`` is the short reason."""


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of ``AdmissionReview.request`` the rules read. ``object``/``old_object`` are raw JSON (or None)."""

    uid: str
    operation: Operation
    kind: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    name: str = ""
    object: Any = None
    old_object: Any = None
    dry_run: bool = False


@dataclass(frozen=True)
class Decision:
    """Allowed or not, why, and warnings (shown by kubectl as ``Warning: ...``)."""

    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = field(default=())


def allow(*warnings: str) -> Decision:
    return Decision(True, "", tuple(warnings))


def deny(message: str, *warnings: str) -> Decision:
    return Decision(False, message, tuple(warnings))


def decode_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ``BadRequest``."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest(f"body is not JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise BadRequest("body is not a JSON object")
    return data


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def decode_review(body: bytes | dict[str, Any]) -> AdmissionRequest:
    """Parse an AdmissionReview; raises ``BadRequest`` for anything the apiserver would never send."""
    data = decode_json(body) if isinstance(body, bytes) else body
    if data.get("apiVersion") != ADMISSION_API_VERSION:
        raise BadRequest(f"apiVersion must be {ADMISSION_API_VERSION}")
    if data.get("kind") != "AdmissionReview":
        raise BadRequest("kind must be AdmissionReview")
    req = data.get("request")
    if not isinstance(req, dict):
        raise BadRequest("request is missing")
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadRequest("request.uid is missing")
    op = req.get("operation")
    if not isinstance(op, str) or op not in _OPERATIONS:
        raise BadRequest("request.operation is missing or unknown")
    raw_kind = req.get("kind")
    kind: dict[str, Any] = raw_kind if isinstance(raw_kind, dict) else {}
    return AdmissionRequest(
        uid=uid,
        operation=cast(Operation, op),
        kind=_str(kind.get("kind")),
        group=_str(kind.get("group")),
        version=_str(kind.get("version")),
        namespace=_str(req.get("namespace")),
        name=_str(req.get("name")),
        object=req.get("object"),
        old_object=req.get("oldObject"),
        dry_run=req.get("dryRun") is True,
    )


def encode_response(uid: str, decision: Decision) -> dict[str, Any]:
    """The AdmissionReview reply for ``uid``."""
    response: dict[str, Any] = {"uid": uid, "allowed": decision.allowed}
    if not decision.allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": decision.message}
    if decision.warnings:
        # The API docs ask for short warnings and say long or numerous ones may be truncated: cap both.
        response["warnings"] = [w[:512] for w in decision.warnings[:20]]
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}
