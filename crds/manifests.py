"""Read Kubernetes manifests from files, directories and stdin into documents with their origin.

``read_documents`` is the one loader of the offline commands: it expands directories (recursively,
``.yaml``/``.yml``/``.json``), splits multi-document YAML, skips empty documents and flattens ``*List``
kinds. Every problem is a ``ManifestError`` naming the file and document; nothing raises past it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from . import yamlio
from .errors import ManifestError

__all__ = ["Document", "read_documents", "read_text_documents"]

_EXTENSIONS = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Document:
    """One Kubernetes object as read: its data and where it came from."""

    source: str
    index: int
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion") or "")

    @property
    def name(self) -> str:
        meta = self.data.get("metadata")
        return str(meta.get("name") or "") if isinstance(meta, dict) else ""

    @property
    def namespace(self) -> str:
        meta = self.data.get("metadata")
        return str(meta.get("namespace") or "") if isinstance(meta, dict) else ""

    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


def _expand(paths: Sequence[str]) -> tuple[list[str], list[ManifestError]]:
    files: list[str] = []
    errors: list[ManifestError] = []
    for p in paths:
        if p == "-":
            files.append("-")
            continue
        path = Path(p)
        if path.is_dir():
            found = sorted(str(f) for f in path.rglob("*") if f.is_file() and f.suffix in _EXTENSIONS)
            files.extend(found)
        elif path.is_file():
            files.append(p)
        else:
            errors.append(ManifestError(p, "no such file or directory"))
    return files, errors


def read_text_documents(text: str, source: str) -> tuple[list[Document], list[ManifestError]]:
    """Split one file's text into documents (YAML or JSON)."""
    docs: list[Document] = []
    errors: list[ManifestError] = []
    try:
        raw: Iterable[Any] = yamlio.load_all(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return [], [ManifestError(where, f"invalid YAML: {problem}")]
    index = 0
    for item in raw:
        if item is None:
            continue
        index += 1
        where = f"{source}: document {index}"
        if not isinstance(item, dict):
            errors.append(ManifestError(where, f"expected a Kubernetes object (a mapping), got {type(item).__name__}"))
            continue
        kind = item.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(item.get("items"), list):
            for sub in item["items"]:
                if isinstance(sub, dict):
                    docs.append(Document(source, index, sub))
                else:
                    errors.append(ManifestError(where, "a List item is not an object"))
            continue
        if not isinstance(kind, str) or not kind or not isinstance(item.get("apiVersion"), str):
            errors.append(ManifestError(where, "missing apiVersion or kind"))
            continue
        docs.append(Document(source, index, item))
    return docs, errors


def read_documents(paths: Sequence[str], *, stdin: TextIO | None = None) -> tuple[list[Document], list[ManifestError]]:
    """All documents under ``paths`` (``-`` is stdin), with every read problem collected."""
    files, errors = _expand(paths)
    docs: list[Document] = []
    for f in files:
        if f == "-":
            text = (stdin or sys.stdin).read()
            source = "<stdin>"
        else:
            try:
                text = Path(f).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                errors.append(ManifestError(f, f"cannot read: {exc}"))
                continue
            source = f
        if source.endswith(".json") and text.strip().startswith(("{", "[")):
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                errors.append(ManifestError(f"{source}:{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}"))
                continue
        found, errs = read_text_documents(text, source)
        docs.extend(found)
        errors.extend(errs)
    return docs, errors
