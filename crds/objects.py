"""Raw API objects (dicts, as the apiserver or a review sends them) to typed models, with a readable reason.

The one place that turns a dict into a ``Resource``: the controller, the speaker and the webhook read their
watched objects through it; a v1beta1 BGPPeer is converted to the stored v1beta2 first. (The offline
``validate`` checks the strict schema before it builds models, and reports every schema problem itself.)
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

from .conversion import V1BETA1, to_v1beta2
from .meta import Resource
from .types import BGPPeer

__all__ = ["load_object"]

R = TypeVar("R", bound=Resource)


def load_object(model: type[R], raw: Any) -> R:
    """``raw`` as ``model``. Raises ValueError with ``path: problem`` parts (at most five) when it does not fit."""
    if not isinstance(raw, dict):
        raise ValueError("the object is not a JSON object")
    if model is BGPPeer and raw.get("apiVersion") == V1BETA1:
        try:
            raw = to_v1beta2(raw)
        except (TypeError, AttributeError, ValueError):
            raise ValueError("spec: not a v1beta1 BGPPeer spec") from None
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err["loc"]) or "<root>"
            parts.append(f"{loc}: {err['msg']}")
        raise ValueError("; ".join(parts)) from None
    except (TypeError, ValueError, RecursionError) as exc:  # pragma: no cover - pydantic wraps these
        raise ValueError(f"cannot read the object: {type(exc).__name__}") from None
