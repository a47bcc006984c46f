"""Generate the CRD manifests (structural OpenAPI v3 schemas) from the pydantic models in ``crds.types``.

The models are the single source of truth; ``crds/*.yaml`` is this module's output, committed so that
``kubectl apply -f crds/`` needs nothing else, and guarded by a test that regenerates and diffs.

The generator walks pydantic's field metadata itself rather than post-processing
``model_json_schema()``: a structural schema may not use ``$ref`` or ``anyOf: [.., null]``, and we need
Kubernetes extensions (CEL rules, list and map types, integer formats) placed exactly.
"""

from __future__ import annotations

import copy
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from . import yamlio
from .meta import Resource
from .types import ALL_KINDS

__all__ = [
    "CONVERSION_SERVICE",
    "crd_for",
    "crd_manifests",
    "crd_version",
    "dump_yaml",
    "object_schema",
    "render_crds",
    "write_crds",
]

JsonSchema = dict[str, Any]

#: Where the apiserver sends BGPPeer ConversionReviews in a cluster (same names as MetalLB).
CONVERSION_SERVICE = {"name": "metallb-webhook-service", "namespace": "metallb-system", "path": "/convert"}


def _doc(cls: type) -> str | None:
    """A class's own docstring (not inherited), collapsed to one paragraph."""
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return None
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        raise TypeError(f"unsupported union {tp!r}: a structural schema needs one type")
    return tp


def _type_schema(tp: Any) -> JsonSchema:
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        values = list(typing.get_args(tp))
        return {"enum": values, "type": "string"}
    if origin in (tuple, list):
        args = typing.get_args(tp)
        item = args[0]
        return {"items": _type_schema(item), "type": "array"}
    if origin is dict:
        _, value = typing.get_args(tp)
        return {"additionalProperties": _type_schema(value), "type": "object"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is str:
        return {"type": "string"}
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        return object_schema(tp)
    raise TypeError(f"no schema mapping for {tp!r}")


def _field_schema(info: FieldInfo) -> JsonSchema:
    schema = _type_schema(info.annotation)
    nested_doc = schema.pop("description", None)
    if info.description or nested_doc:
        schema["description"] = info.description or nested_doc
    is_array = schema.get("type") == "array"
    for constraint in info.metadata:
        if isinstance(constraint, annotated_types.Ge):
            schema["minimum"] = constraint.ge
        elif isinstance(constraint, annotated_types.Le):
            schema["maximum"] = constraint.le
        elif isinstance(constraint, annotated_types.MinLen):
            schema["minItems" if is_array else "minLength"] = constraint.min_length
        elif isinstance(constraint, annotated_types.MaxLen):
            schema["maxItems" if is_array else "maxLength"] = constraint.max_length
    if isinstance(info.json_schema_extra, dict):
        schema.update(copy.deepcopy(info.json_schema_extra))
    default = info.default
    if default is not PydanticUndefined and default is not None and isinstance(default, bool | int | str):
        schema["default"] = default
    return dict(sorted(schema.items()))


def object_schema(model: type[BaseModel]) -> JsonSchema:
    """The structural schema of one model: properties by wire name, sorted; required; extensions."""
    properties: dict[str, JsonSchema] = {}
    required: list[str] = []
    for name, info in model.model_fields.items():
        wire = info.alias or name
        properties[wire] = _field_schema(info)
        if info.is_required():
            required.append(wire)
    schema: JsonSchema = {"type": "object"}
    doc = _doc(model)
    if doc:
        schema["description"] = doc
    if properties:
        schema["properties"] = dict(sorted(properties.items()))
    if required:
        schema["required"] = sorted(required)
    extra = model.model_config.get("json_schema_extra")
    if isinstance(extra, dict):
        schema.update(copy.deepcopy(extra))
    return dict(sorted(schema.items()))


def _root_schema(kind: type[Resource]) -> JsonSchema:
    properties: dict[str, JsonSchema] = {
        "apiVersion": {"description": "The versioned schema of this object.", "type": "string"},
        "kind": {"description": "The REST resource this object represents.", "type": "string"},
        "metadata": {"type": "object"},
    }
    required: list[str] = []
    for field in ("spec", "status"):
        info = kind.model_fields.get(field)
        if info is None:
            continue
        properties[field] = _field_schema(info)
        if info.is_required():
            required.append(field)
    schema: JsonSchema = {"properties": properties, "type": "object"}
    doc = _doc(kind)
    if doc:
        schema["description"] = doc
    if required:
        schema["required"] = required
    return dict(sorted(schema.items()))


def crd_version(kind: type[Resource]) -> JsonSchema:
    api = kind.api
    version: JsonSchema = {}
    if api.printer_columns:
        cols = []
        for col in api.printer_columns:
            c: JsonSchema = {"jsonPath": col.json_path, "name": col.name}
            if col.priority:
                c["priority"] = col.priority
            c["type"] = col.type
            cols.append(c)
        version["additionalPrinterColumns"] = cols
    if api.deprecated:
        version["deprecated"] = True
        if api.deprecation_warning:
            version["deprecationWarning"] = api.deprecation_warning
    version["name"] = api.version
    version["schema"] = {"openAPIV3Schema": _root_schema(kind)}
    version["served"] = True
    version["storage"] = api.storage
    version["subresources"] = {"status": {}}
    return version


def crd_for(kinds: Iterable[type[Resource]]) -> JsonSchema:
    """One CustomResourceDefinition covering every version in ``kinds`` (all of one group and kind)."""
    kinds = sorted(kinds, key=lambda k: k.api.version)
    first = kinds[0].api
    spec: JsonSchema = {}
    if len(kinds) > 1:
        spec["conversion"] = {
            "strategy": "Webhook",
            "webhook": {
                "clientConfig": {"service": dict(CONVERSION_SERVICE)},
                "conversionReviewVersions": [k.api.version for k in kinds],
            },
        }
    spec["group"] = first.group
    spec["names"] = {
        "kind": first.kind,
        "listKind": f"{first.kind}List",
        "plural": first.plural,
        "singular": first.singular,
    }
    spec["scope"] = "Namespaced" if first.namespaced else "Cluster"
    spec["versions"] = [crd_version(k) for k in kinds]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": first.crd_name},
        "spec": spec,
    }


def crd_manifests() -> dict[str, JsonSchema]:
    """Every CRD, keyed by the file name it is written to (``metallb.io_<plural>.yaml``)."""
    by_plural: dict[str, list[type[Resource]]] = {}
    for kind in ALL_KINDS:
        by_plural.setdefault(kind.api.plural, []).append(kind)
    return {f"{k.api.group}_{plural}.yaml": crd_for(ks) for plural, ks in sorted(by_plural.items()) for k in ks[:1]}


def dump_yaml(obj: Any) -> str:
    """``obj`` as block-style YAML, the way the committed manifests are written (see ``crds.yamlio.dump``)."""
    return yamlio.dump(obj)


_HEADER = "# Generated from the pydantic models in crds/types.py by `make crds`. Do not edit.\n"


def render_crds() -> dict[str, str]:
    """File name -> YAML text of every CRD, exactly as committed."""
    return {name: _HEADER + "---\n" + dump_yaml(crd) for name, crd in crd_manifests().items()}


def write_crds(directory: Path, *, log: Callable[[str], None] | None = None) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_crds().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            if log:
                log(f"wrote {path}")
        written.append(path)
    return written
