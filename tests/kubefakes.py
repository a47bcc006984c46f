"""In-memory fakes of the API client and the event recorder, for unit tests of reconcilers (no server)."""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.runtime.errors import NotFound
from reconciler.runtime.resources import ResourceType


class FakeApi:
    """Objects by (plural, namespace, name); every write is recorded as (verb, plural, name, subresource, body)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str, str | None, Any]] = []
        self._rv = itertools.count(100)
        self._names = itertools.count(1)

    def put(self, res: ResourceType, obj: dict[str, Any]) -> None:
        md = obj["metadata"]
        self.objects[(res.plural, md.get("namespace"), md["name"])] = copy.deepcopy(obj)

    async def get(self, res: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.objects[(res.plural, namespace, name)])
        except KeyError:
            raise NotFound(404, "NotFound", f"{res.plural} {name!r} not found") from None

    async def create(self, res: ResourceType, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        body = copy.deepcopy(obj)
        if "name" not in body["metadata"] and "generateName" in body["metadata"]:
            body["metadata"]["name"] = f"{body['metadata']['generateName']}{next(self._names)}"
        body["metadata"]["resourceVersion"] = str(next(self._rv))
        self.writes.append(("create", res.plural, body["metadata"]["name"], None, obj))
        self.put(res, body)
        return copy.deepcopy(body)

    async def patch(
        self,
        res: ResourceType,
        name: str,
        body: dict[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        self.writes.append(("patch", res.plural, name, subresource, body))
        key = (res.plural, namespace, name)
        if key not in self.objects:
            raise NotFound(404, "NotFound", f"{res.plural} {name!r} not found")
        obj = self.objects[key]
        for k, v in body.items():
            if isinstance(v, dict) and isinstance(obj.get(k), dict):
                obj[k] = {**obj[k], **v}
            else:
                obj[k] = v
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        return copy.deepcopy(obj)

    async def list(
        self,
        res: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, str] | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """The objects of ``res`` (in ``namespace`` unless None) matching a label selector of ``k=v``, ``k!=v``
        and ``k in (a,b)`` terms, as the apiserver reads them."""
        terms = _selector_terms(label_selector)
        out = []
        for (plural, ns, _), obj in sorted(self.objects.items(), key=lambda kv: str(kv[0])):
            if plural != res.plural or (namespace is not None and ns != namespace):
                continue
            labels = obj["metadata"].get("labels") or {}
            if all((labels.get(k) in values) == wanted for k, wanted, values in terms):
                item = copy.deepcopy(obj)
                out.append(item if transform is None else transform(item))
        return out, str(next(self._rv))

    async def delete(self, res: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        self.writes.append(("delete", res.plural, name, None, None))
        try:
            return self.objects.pop((res.plural, namespace, name))
        except KeyError:
            raise NotFound(404, "NotFound", f"{res.plural} {name!r} not found") from None


def _selector_terms(sel: str | Mapping[str, str] | None) -> list[tuple[str, bool, frozenset[str]]]:
    """(key, wanted, values): the label's value must be (wanted) or must not be (not wanted) among values."""
    if sel is None:
        return []
    if not isinstance(sel, str):
        return [(k, True, frozenset({v})) for k, v in sel.items()]
    terms = []
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", sel):
        if m := re.fullmatch(r"\s*(\S+)\s+in\s+\(([^)]*)\)\s*", term):
            terms.append((m.group(1), True, frozenset(v.strip() for v in m.group(2).split(","))))
        else:
            k, op, v = re.split(r"(!=|=)", term, maxsplit=1)
            terms.append((k.strip(), op == "=", frozenset({v.strip()})))
    return terms


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def post(self, obj: dict[str, Any], type: str, reason: str, message: str) -> None:
        self.events.append((obj["metadata"]["name"], type, reason, message))
