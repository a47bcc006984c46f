"""Typed objects from the Store: what a program's config reconciler reads before it calls the one parser.

``load_models`` turns a kind's stored dicts into its pydantic model, collecting ``Kind name: problem`` for each
object the apiserver accepted but the model cannot read (reported, never raised: one bad object must not hide
the rest). ``labeled`` gives the name-and-labels view the parser takes for Nodes and Namespaces.
"""

from __future__ import annotations

from typing import TypeVar

from crds.config import LabeledObject
from crds.meta import Resource
from crds.objects import load_object
from reconciler.runtime.resources import ResourceType
from reconciler.runtime.store import Store

__all__ = ["labeled", "load_models"]

M = TypeVar("M", bound=Resource)


def load_models(store: Store, res: ResourceType, model: type[M], namespace: str, problems: list[str]) -> list[M]:
    """The readable objects of ``res`` in ``namespace``; each unreadable one appends to ``problems``."""
    out: list[M] = []
    for obj in store.list(res, namespace):
        try:
            out.append(load_object(model, obj))
        except ValueError as exc:
            problems.append(f"{res.kind} {obj['metadata'].get('name')}: {exc}")
    return out


def labeled(store: Store, res: ResourceType) -> list[LabeledObject]:
    """Name and labels of every stored object of a cluster-scoped kind (Nodes, Namespaces)."""
    return [LabeledObject(o["metadata"]["name"], dict(o["metadata"].get("labels") or {})) for o in store.list(res)]
