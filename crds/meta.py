"""Kubernetes building blocks shared by every kind: API identity, object metadata, label selectors.

Modelled once and reused by all nine ``metallb.io`` kinds, by the CRD generator and by the parser.
Wire names (camelCase) are declared as aliases; Python attributes are snake_case. Dumps use
``by_alias=True, exclude_unset=True`` so an omitted field stays omitted (it is not the same as ``null``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ApiInfo",
    "KubeModel",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ObjectMeta",
    "PrinterColumn",
    "Resource",
    "selector_matches",
]


class KubeModel(BaseModel):
    """Base of every wire model: frozen, populated by alias or by name, unknown fields ignored.

    Unknown fields are ignored here because the apiserver may add fields we do not know; the offline
    ``validate`` command rejects them separately, against the generated CRD schema.
    """

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    def dump(self) -> dict[str, Any]:
        """The wire form: camelCase keys, only the fields that were set."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry of a CRD version."""

    name: str
    type: str
    json_path: str
    priority: int = 0


@dataclass(frozen=True)
class ApiInfo:
    """The API identity of a kind: read by the CRD generator, the reflector URLs and the webhook routes."""

    kind: str
    plural: str
    version: str
    group: str = "metallb.io"
    namespaced: bool = True
    storage: bool = True
    deprecated: bool = False
    deprecation_warning: str | None = None
    printer_columns: tuple[PrinterColumn, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


class LabelSelectorRequirement(KubeModel):
    """A selector requirement: a key, an operator, and the values the operator relates them to."""

    key: str = Field(description="The label key the requirement applies to.")
    operator: str = Field(description="One of In, NotIn, Exists, DoesNotExist.")
    values: tuple[str, ...] | None = Field(
        default=None,
        description="Values for In and NotIn (non-empty); empty for Exists and DoesNotExist.",
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )


class LabelSelector(KubeModel):
    """A label query. matchLabels and matchExpressions are ANDed; an empty selector matches everything."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-map-type": "atomic"})

    match_labels: dict[str, str] | None = Field(
        default=None,
        alias="matchLabels",
        description="Each key=value pair is an In requirement with a single value.",
    )
    match_expressions: tuple[LabelSelectorRequirement, ...] | None = Field(
        default=None,
        alias="matchExpressions",
        description="Requirements, ANDed.",
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )

    def canonical(self) -> str:
        """A stable text form, used to detect duplicate selectors and in messages."""
        labels = ",".join(f"{k}={v}" for k, v in sorted((self.match_labels or {}).items()))
        exprs = ",".join(
            f"{e.key} {e.operator} ({','.join(sorted(e.values or ()))})" for e in self.match_expressions or ()
        )
        return f"matchLabels:{{{labels}}} matchExpressions:[{exprs}]"


OPERATORS: frozenset[str] = frozenset(("In", "NotIn", "Exists", "DoesNotExist"))


def selector_matches(selector: LabelSelector, labels: dict[str, str]) -> bool:
    """Whether ``labels`` satisfy ``selector`` (Kubernetes semantics; the selector is assumed valid)."""
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.match_expressions or ():
        present = req.key in labels
        values = req.values or ()
        if req.operator == "In":
            if not present or labels[req.key] not in values:
                return False
        elif req.operator == "NotIn":
            if present and labels[req.key] in values:
                return False
        elif req.operator == "Exists":
            if not present:
                return False
        elif req.operator == "DoesNotExist":
            if present:
                return False
        else:
            return False
    return True


class OwnerReference(KubeModel):
    api_version: str = Field(alias="apiVersion")
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = Field(default=None, alias="blockOwnerDeletion")


class ObjectMeta(KubeModel):
    """The subset of Kubernetes object metadata pymetallb reads; everything else is kept by the apiserver."""

    name: str | None = None
    generate_name: str | None = Field(default=None, alias="generateName")
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    uid: str | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    generation: int | None = None
    creation_timestamp: str | None = Field(default=None, alias="creationTimestamp")
    deletion_timestamp: str | None = Field(default=None, alias="deletionTimestamp")
    owner_references: tuple[OwnerReference, ...] | None = Field(default=None, alias="ownerReferences")
    finalizers: tuple[str, ...] | None = None


class Resource(KubeModel):
    """A top-level API object. Subclasses set ``api`` and narrow ``spec``/``status``."""

    api: ClassVar[ApiInfo]

    # Filled from ``api`` when omitted (see _fill_type_meta); the defaults only satisfy type checkers.
    api_version: str = Field(default="", alias="apiVersion")
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @model_validator(mode="before")
    @classmethod
    def _fill_type_meta(cls, data: Any) -> Any:
        """Objects built in code need not repeat apiVersion and kind: they come from ``api``."""
        if isinstance(data, dict) and hasattr(cls, "api"):
            if "apiVersion" not in data and "api_version" not in data:
                data = {**data, "apiVersion": cls.api.api_version}
            if "kind" not in data:
                data = {**data, "kind": cls.api.kind}
        return data

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""
