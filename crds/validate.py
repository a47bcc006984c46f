"""Offline validation of manifests: the generated CRD schema first, then the config parser over all of them.

Each MetalLB document is checked against the schema generated from our models, made strict (unknown
fields are errors here, while the apiserver would silently prune them), with the schema's defaults applied
and with a Python counterpart of every CEL rule the CRDs carry. The documents that pass are parsed
together by ``parse_config``, the same parser the controller, the speaker and the webhook use.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import pydantic

from .config import (
    BgpMode,
    ClusterResources,
    LabeledObject,
    ParseOptions,
    ParseResult,
    SecretInfo,
    parse_config,
    parse_go_duration,
)
from .conversion import to_v1beta2
from .errors import InternalInvariantError
from .manifests import Document
from .meta import Resource
from .schema import crd_version
from .types import (
    BFDProfile,
    BGPAdvertisement,
    BGPPeer,
    BGPPeerV1beta1,
    Community,
    IPAddressPool,
    L2Advertisement,
    kind_for,
)

if TYPE_CHECKING:
    import jsonschema

__all__ = [
    "CEL_RULES",
    "LoadedObjects",
    "Problem",
    "ValidationReport",
    "apply_defaults",
    "load_objects",
    "schema_problems",
    "validate_documents",
]

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Problem:
    """One line of ``validate`` output: ``file: Kind/name: message``."""

    source: str
    ref: str
    message: str
    severity: Severity = "error"

    def line(self) -> str:
        msg = "; ".join(p for p in self.message.split("\n") if p)
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        parts = [p for p in (self.source, self.ref) if p]
        return ": ".join([*parts, prefix + msg])


# --- CEL rules, mirrored in Python -------------------------------------------------------------------


def _aggregation_rule(spec: Any) -> bool:
    if not isinstance(spec, dict):
        return True
    if not spec.get("serviceSelectors"):
        return True
    return bool(spec.get("aggregationLength", 32) == 32 and spec.get("aggregationLengthV6", 128) == 128)


def _duration_seconds(value: Any) -> float | None:
    try:
        return parse_go_duration(str(value))
    except ValueError:
        return None


def _connect_range(value: Any) -> bool:
    seconds = _duration_seconds(value)
    return seconds is not None and 1 <= int(seconds) <= 65535


def _connect_whole(value: Any) -> bool:
    seconds = _duration_seconds(value)
    return seconds is not None and round(seconds * 1000) % 1000 == 0


#: Every CEL rule our CRDs carry, with its Python equivalent; None marks transition rules (they compare
#: with the old object, so they cannot be checked offline). A test asserts this table covers the CRDs.
CEL_RULES: dict[str, Callable[[Any], bool] | None] = {
    (
        "!has(self.serviceSelectors) || self.serviceSelectors.size() == 0 || "
        "((!has(self.aggregationLength) || self.aggregationLength == 32) && "
        "(!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))"
    ): _aggregation_rule,
    "duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535": _connect_range,
    "duration(self).getMilliseconds() % 1000 == 0": _connect_whole,
    "self == oldSelf": None,
}


# --- schema ------------------------------------------------------------------------------------------


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schema)

    def walk(node: dict[str, Any]) -> None:
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
            for child in node["properties"].values():
                walk(child)
        if isinstance(node.get("items"), dict):
            walk(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"])

    walk(out)
    return out


@cache
def _root_schema(kind: type[Resource]) -> dict[str, Any]:
    schema: dict[str, Any] = crd_version(kind)["schema"]["openAPIV3Schema"]
    return schema


@cache
def _strict_schema(kind: type[Resource]) -> dict[str, Any]:
    return _strict(_root_schema(kind))


@cache
def _validator(kind: type[Resource]) -> jsonschema.protocols.Validator:
    import jsonschema  # only for objects the quick check did not pass: most runs never import it (~0.13 s)

    schema = _strict_schema(kind)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


# Keywords ``surely_valid`` checks (Draft 7 semantics) and those that only annotate; any other keyword sends
# the object to jsonschema.
_CHECKED = frozenset(
    {"type", "properties", "additionalProperties", "required", "items", "enum", "minimum", "maximum"}
    | {"minLength", "maxLength", "minItems"}
)
_ANNOTATIONS = frozenset(
    {"default", "description", "format", "x-kubernetes-list-map-keys", "x-kubernetes-list-type"}
    | {"x-kubernetes-map-type", "x-kubernetes-validations"}
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_ok(kind: Any, value: Any) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)  # 1.0 goes to jsonschema (it accepts it)
    if kind == "number":
        return _is_number(value)
    return False  # "null", a list of types: jsonschema decides


def surely_valid(schema: dict[str, Any], value: Any) -> bool:
    """True only when ``value`` certainly satisfies ``schema`` (what jsonschema's Draft 7 validator would say,
    formats not asserted, as ours are built); False means "ask jsonschema", which also words the errors.

    A quick check for the common case (a valid object), ~10 times cheaper than jsonschema's; conservative
    wherever Draft 7 has a subtlety (``1.0`` as an integer, ``True`` in an enum, unknown keywords).
    """
    for key in schema:
        if key not in _CHECKED and key not in _ANNOTATIONS:
            return False
    if "type" in schema and not _type_ok(schema["type"], value):
        return False
    if "enum" in schema and (isinstance(value, bool) or not isinstance(value, str) or value not in schema["enum"]):
        return False
    if _is_number(value):
        if "minimum" in schema and not value >= schema["minimum"]:
            return False
        if "maximum" in schema and not value <= schema["maximum"]:
            return False
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return False
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return False
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return False
        items = schema.get("items")
        if items is not None and not (isinstance(items, dict) and all(surely_valid(items, v) for v in value)):
            return False
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        if any(name not in value for name in schema.get("required", ())):
            return False
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            sub = props.get(key)
            if sub is None:
                if extra is True:
                    continue
                if not isinstance(extra, dict) or not surely_valid(extra, item):
                    return False
            elif not surely_valid(sub, item):
                return False
    return True


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """A copy of ``value`` with the schema's defaults filled in, as the apiserver does on write."""
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for key, sub in schema["properties"].items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = apply_defaults(sub, out[key])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def _path(parts: Sequence[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _cel_problems(schema: dict[str, Any], value: Any, path: list[Any]) -> list[str]:
    problems: list[str] = []
    for rule in schema.get("x-kubernetes-validations", ()):
        if rule["rule"] not in CEL_RULES:
            raise InternalInvariantError(f"CEL rule without a Python counterpart: {rule['rule']}")
        check = CEL_RULES[rule["rule"]]
        if check is not None and not check(value):
            where = _path(path) or "<root>"
            problems.append(f"{where}: Invalid value: {rule['message']}")
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problems.extend(_cel_problems(sub, value[key], [*path, key]))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problems.extend(_cel_problems(schema["items"], item, [*path, i]))
    return problems


def _schema_message(err: jsonschema.ValidationError) -> str:
    where = _path(list(err.absolute_path))
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        schema = err.schema if isinstance(err.schema, dict) else {}
        known = set(schema.get("properties", {}))
        extra = sorted(k for k in err.instance if k not in known)
        return "; ".join(f"{_path([*err.absolute_path, k])}: unknown field {k!r}" for k in extra)
    if err.validator == "required":
        missing = str(err.message).split("'")[1] if "'" in err.message else err.message
        return f"{_path([*err.absolute_path, missing])}: Required value"
    if err.validator == "type":
        return f"{where or '<root>'}: Invalid value: {err.instance!r}: must be of type {err.validator_value}"
    if err.validator == "enum":
        values = err.validator_value if isinstance(err.validator_value, list) else []
        allowed = ", ".join(repr(v) for v in values)
        return f"{where}: Unsupported value: {err.instance!r}: supported values: {allowed}"
    if err.validator in ("minimum", "maximum"):
        word = "greater than or equal to" if err.validator == "minimum" else "less than or equal to"
        return f"{where}: Invalid value: {err.instance!r}: should be {word} {err.validator_value}"
    return f"{where or '<root>'}: {err.message}"


def schema_problems(kind: type[Resource], data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check one object against its kind's strict schema and CEL rules; returns it with defaults applied."""
    schema = _root_schema(kind)
    defaulted = apply_defaults(schema, data)
    if surely_valid(_strict_schema(kind), defaulted):
        errors = []
    else:
        errors = sorted(_validator(kind).iter_errors(defaulted), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_schema_message(e) for e in errors]
    if not problems:
        problems = _cel_problems(schema, defaulted, [])
    return defaulted, problems


# --- loading -----------------------------------------------------------------------------------------

#: Core kinds the parser or the planner read; everything else is ignored with a note.
CORE_KINDS = {
    ("v1", "Node"),
    ("v1", "Namespace"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
}


@dataclass
class LoadedObjects:
    """Typed MetalLB objects and the core objects next to them, with where each came from."""

    pools: list[IPAddressPool] = field(default_factory=list)
    peers: list[BGPPeer] = field(default_factory=list)
    bfd_profiles: list[BFDProfile] = field(default_factory=list)
    bgp_advertisements: list[BGPAdvertisement] = field(default_factory=list)
    l2_advertisements: list[L2Advertisement] = field(default_factory=list)
    communities: list[Community] = field(default_factory=list)
    others: list[Resource] = field(default_factory=list)
    core: list[Document] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def resources(self, *, namespace: str) -> ClusterResources:
        nodes = [LabeledObject(d.name, _labels(d.data)) for d in self.core if (d.api_version, d.kind) == ("v1", "Node")]
        namespaces = [
            LabeledObject(d.name, _labels(d.data)) for d in self.core if (d.api_version, d.kind) == ("v1", "Namespace")
        ]
        secrets = {
            d.name: _secret(d.data, namespace)
            for d in self.core
            if (d.api_version, d.kind) == ("v1", "Secret") and (d.namespace or namespace) == namespace
        }
        return ClusterResources(
            pools=tuple(self.pools),
            peers=tuple(self.peers),
            bfd_profiles=tuple(self.bfd_profiles),
            bgp_advertisements=tuple(self.bgp_advertisements),
            l2_advertisements=tuple(self.l2_advertisements),
            communities=tuple(self.communities),
            secrets=secrets,
            nodes=nodes or None,
            namespaces=namespaces or None,
        )


def _labels(data: dict[str, Any]) -> dict[str, str]:
    meta = data.get("metadata") or {}
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _secret(data: dict[str, Any], namespace: str) -> SecretInfo:
    meta = data.get("metadata") or {}
    password: str | None = None
    raw = (data.get("data") or {}).get("password")
    if isinstance(raw, str):
        try:
            password = base64.b64decode(raw, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            password = None
    plain = (data.get("stringData") or {}).get("password")
    if isinstance(plain, str):
        password = plain
    return SecretInfo(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or namespace),
        type=str(data.get("type") or "Opaque"),
        password=password,
    )


_TARGET: dict[type[Resource], str] = {
    IPAddressPool: "pools",
    BGPPeer: "peers",
    BFDProfile: "bfd_profiles",
    BGPAdvertisement: "bgp_advertisements",
    L2Advertisement: "l2_advertisements",
    Community: "communities",
}


def load_objects(docs: Sequence[Document], *, namespace: str) -> LoadedObjects:
    """Schema-check every MetalLB document and build typed objects; collect core objects; note the rest."""
    out = LoadedObjects()
    for doc in docs:
        kind = kind_for(doc.api_version, doc.kind)
        if kind is None:
            if (doc.api_version, doc.kind) in CORE_KINDS:
                out.core.append(doc)
            elif doc.api_version.startswith("metallb.io/"):
                out.problems.append(
                    Problem(doc.source, doc.ref(), f"unknown MetalLB kind {doc.api_version} {doc.kind}")
                )
            else:
                out.problems.append(
                    Problem(
                        doc.source,
                        doc.ref(),
                        f"{doc.api_version} {doc.kind} is not a MetalLB kind; ignored",
                        "note",
                    )
                )
            continue
        if doc.namespace and doc.namespace != namespace:
            out.problems.append(Problem(doc.source, doc.ref(), f"resource must be created in {namespace} namespace"))
            continue
        if not doc.name:
            out.problems.append(Problem(doc.source, doc.ref(), "metadata.name: Required value"))
            continue
        data, problems = schema_problems(kind, doc.data)
        if problems:
            out.problems.extend(Problem(doc.source, doc.ref(), p) for p in problems)
            continue
        if kind is BGPPeerV1beta1:
            data = apply_defaults(_root_schema(BGPPeer), to_v1beta2(data))
            kind = BGPPeer
        try:
            obj = kind.model_validate(data)
        except pydantic.ValidationError as exc:
            for e in exc.errors():
                out.problems.append(Problem(doc.source, doc.ref(), f"{_path(list(e['loc']))}: {e['msg']}"))
            continue
        out.origin[f"{kind.api.kind}/{doc.name}"] = doc.source
        target = _TARGET.get(kind)
        if target is None:
            out.others.append(obj)
        else:
            getattr(out, target).append(obj)
    return out


@dataclass(frozen=True)
class ValidationReport:
    problems: tuple[Problem, ...]
    result: ParseResult | None

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def validate_documents(
    docs: Sequence[Document], *, namespace: str = "metallb-system", bgp_mode: BgpMode = "native"
) -> ValidationReport:
    """Everything ``pymetallb validate`` checks, as data."""
    loaded = load_objects(docs, namespace=namespace)
    problems = list(loaded.problems)
    result = parse_config(loaded.resources(namespace=namespace), ParseOptions(bgp_mode=bgp_mode))
    for err in result.errors:
        problems.append(Problem(loaded.origin.get(err.where, ""), err.where, err.what))
    for warn in result.warnings:
        problems.append(Problem(loaded.origin.get(warn.where, ""), warn.where, warn.what, "warning"))
    return ValidationReport(tuple(problems), result)
