"""YAML read and written the way Kubernetes' and MetalLB's Go code does; the one YAML module of the offline tools.

Promises:

* **Go's reading.** PyYAML implements YAML 1.1, where ``1:2`` is the base-60 integer 62; Go's yaml.v2 reads
  it as the string ``"1:2"`` (a BGP community, a legacy alias value). A key given twice in one mapping is an
  error, as with ``kubectl``'s strict decoding, not a silent overwrite. Nothing here builds Python objects
  beyond plain data (safe loading).
* **One meaning, two speeds.** ``GoYAMLLoader`` (PyYAML's pure-Python reader) is the reference.
  ``load_all`` and ``load`` give exactly its result, its exceptions and its messages, but read with libyaml
  when PyYAML has it (``yaml.__with_libyaml__``), about 20 times faster: libyaml parses, our resolver
  tables decide every scalar's type (the same tables as the reference), and a direct builder makes the
  dicts and lists. Anything unusual (merge keys, non-core tags, complex keys) is handed to PyYAML's own
  constructor, and any error is reported by re-reading with the reference reader, so an error text and
  its line and column never depend on which reader ran. ``tests/unit/test_yamlio.py`` proves the two
  agree on every golden file and on generated documents, error cases included.
* **Go's writing.** ``dump`` writes block-style YAML with multi-line strings as literal blocks (as
  controller-gen does), with libyaml's emitter when present; its output is byte-for-byte the pure
  emitter's (same test).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .text import go_quote

__all__ = ["HAVE_LIBYAML", "GoYAMLLoader", "dump", "load", "load_all"]

#: Whether this PyYAML was built with libyaml (the manylinux wheels are); without it, the reference reader runs.
HAVE_LIBYAML: bool = bool(getattr(yaml, "__with_libyaml__", False))

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_NULL = "tag:yaml.org,2002:null"


#: Mappings and sequences nested deeper than this are an error. Kubernetes objects nest a few dozen levels
#: at most; the pure-Python reader recurses per level and would otherwise die of RecursionError (a
#: traceback, not a message) somewhere past 250, and libyaml stops at 1,000.
MAX_DEPTH = 100


class GoYAMLLoader(yaml.SafeLoader):
    """YAML as MetalLB's Go reader (yaml.v2 ``UnmarshalStrict``) reads it: the reference (pure Python).

    Go's YAML has no base-60 numbers, so ``1:2`` (a community) is the string it looks like, not the
    integer 62; and a key given twice in one mapping is an error, not a silent overwrite.
    """

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise _too_deep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _too_deep(mark: Any) -> yaml.composer.ComposerError:
    return yaml.composer.ComposerError(None, None, f"mappings and lists nested deeper than {MAX_DEPTH} levels", mark)


GoYAMLLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
GoYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
GoYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _duplicate_key(key: Any, key_node: Node) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(
        None, None, f"mapping key {go_quote(str(key))} already defined", key_node.start_mark
    )


def _construct_mapping(loader: GoYAMLLoader, node: MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys merged in with << may be overridden
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | float | bool):
            if key in seen:
                raise _duplicate_key(key, key_node)
            seen.add(key)
    return loader.construct_mapping(node)  # an unhashable key is its error, with its position


def _strict_scalar(construct: Callable[[Any, ScalarNode], Any], name: str) -> Callable[[GoYAMLLoader, ScalarNode], Any]:
    """PyYAML's constructor for an explicitly tagged scalar, with a bad value as a YAML error at its position.

    ``!!int abc`` makes PyYAML's constructor raise a bare ``ValueError`` (``!!bool abc`` a ``KeyError``,
    ``!!timestamp abc`` an ``AttributeError``), which would escape every ``except yaml.YAMLError``.
    """

    def checked(loader: GoYAMLLoader, node: ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError):
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {go_quote(str(node.value))} as {name}", node.start_mark
            ) from None

    return checked


for _tag, _name in (("int", "!!int"), ("float", "!!float"), ("bool", "!!bool"), ("timestamp", "!!timestamp")):
    _full = f"tag:yaml.org,2002:{_tag}"
    GoYAMLLoader.add_constructor(_full, _strict_scalar(yaml.SafeLoader.yaml_constructors[_full], _name))
GoYAMLLoader.add_constructor(_MAP, _construct_mapping)


class _Unusual(Exception):
    """A node the direct builder leaves to PyYAML's constructor (merge keys, non-core tags, complex keys)."""


# Per first character, the implicit resolvers to try, in the reference's order (PyYAML also tries the
# resolvers registered under None for every scalar; SafeLoader registers none, and the import-time check
# below keeps it so).
_RESOLVERS: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple(resolvers) for first, resolvers in GoYAMLLoader.yaml_implicit_resolvers.items() if first is not None
}
if None in GoYAMLLoader.yaml_implicit_resolvers:  # pragma: no cover - PyYAML changed its tables
    raise ImportError("crds.yamlio: PyYAML's SafeLoader has wildcard resolvers; the fast reader needs updating")

# Scalar tags the builder converts itself, with the reference constructor's own functions.
_SCALARS: dict[str, Callable[[Any, ScalarNode], Any]] = {
    tag: GoYAMLLoader.yaml_constructors[tag]
    for tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool")
}


def _build(loader: Any, root: Node) -> Any:
    """The document under ``root`` as plain data, as the reference constructor would build it.

    An alias yields the very object its anchor built (``memo``), as in PyYAML, so a document of aliases
    costs its size in nodes, not its expanded size, and a recursive alias gives a recursive structure.
    """
    memo: dict[int, Any] = {}
    building: set[int] = set()  # mappings under construction: the reference refuses a cycle through them
    scalars = _SCALARS

    def build(node: Node, depth: int) -> Any:
        cls = node.__class__
        if cls is ScalarNode:
            tag = node.tag
            if tag == _STR:
                return node.value
            if tag == _NULL:
                return None
            convert = scalars.get(tag)
            if convert is None:
                raise _Unusual
            return convert(loader, node)  # type: ignore[arg-type]  # a ScalarNode, as checked above
        found = memo.get(id(node))
        if found is not None:
            return found
        if depth > MAX_DEPTH:
            raise _too_deep(node.start_mark)
        depth += 1
        if cls is MappingNode and node.tag == _MAP:
            if id(node) in building:
                raise _Unusual  # a cycle: the reference builds some (through a list) and refuses others
            building.add(id(node))
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                # Plain string keys and values inline: most of a manifest, and a call saved per scalar.
                if key_node.__class__ is not ScalarNode or key_node.tag not in _PLAIN_KEY_TAGS:
                    raise _Unusual  # merge (<<) and value (=) keys, complex keys
                key = key_node.value if key_node.tag == _STR else build(key_node, depth)
                if key in out and key is not None:
                    raise _duplicate_key(key, key_node)
                if value_node.__class__ is ScalarNode and value_node.tag == _STR:
                    out[key] = value_node.value
                else:
                    out[key] = build(value_node, depth)
            building.discard(id(node))
            memo[id(node)] = out
            return out
        if cls is SequenceNode and node.tag == _SEQ:
            items: list[Any] = []
            memo[id(node)] = items
            items.extend(build(child, depth) for child in node.value)
            return items
        raise _Unusual

    return build(root, 1)


def _resolve_plain(value: str) -> str:
    """The tag of a plain (unquoted, untagged) scalar: the reference's implicit resolvers, in its order."""
    for tag, regexp in _RESOLVERS.get(value[:1], ()):
        if regexp.match(value):
            return tag
    return _STR


# Tags of plain scalars already seen (keys and enum-like values repeat through a manifest); a pure
# function of the text, so the cache only saves the regular expressions. Bounded, for hostile input.
_plain_tags: dict[str, str] = {}
_PLAIN_TAGS_MAX = 1 << 16

# Key tags whose values the reference's duplicate check covers (str, int, float, bool) and null, which it
# lets the last one win; the builder does the same.
_PLAIN_KEY_TAGS = frozenset({_STR, _NULL, *_SCALARS})


if HAVE_LIBYAML:

    class _FastGoLoader(yaml.CSafeLoader):
        """libyaml's parser with the reference's resolver tables and a direct builder."""

        yaml_implicit_resolvers = GoYAMLLoader.yaml_implicit_resolvers
        yaml_constructors = dict(GoYAMLLoader.yaml_constructors)

        def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool] | bool) -> str:
            # BaseResolver.resolve without path resolvers (none are registered): called once per node.
            if kind is ScalarNode:
                if implicit[0]:  # type: ignore[index]
                    tag = _plain_tags.get(value)  # type: ignore[arg-type]
                    if tag is None:
                        tag = _resolve_plain(value)  # type: ignore[arg-type]
                        if len(_plain_tags) < _PLAIN_TAGS_MAX:
                            _plain_tags[value] = tag  # type: ignore[index]
                    return tag
                return _STR
            return _SEQ if kind is SequenceNode else _MAP

        def construct_document(self, node: Node) -> Any:
            try:
                return _build(self, node)
            except _Unusual:
                return super().construct_document(node)

    if GoYAMLLoader.yaml_path_resolvers:  # pragma: no cover - nothing registers any
        raise ImportError("crds.yamlio: path resolvers are not supported by the fast reader")


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a document is built.

    Building makes millions of small containers and frees none; each young-generation pass would scan
    them again, which made a 10 MB export three times slower to read. The nodes and data form no
    cycles, so reference counting frees everything as before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# Where libyaml's scanner (and Go's yaml.v2, a port of it) accepts what PyYAML's refuses, as found by the
# generated tests: a tab as white space after a flow collection or a key; a byte-order mark inside the
# text; a ``!`` starting a tag in odd places (``[!,int 1]``); a comment right after a block scalar header
# (``|-#``); a ``?`` inside a plain scalar in a flow collection (``[a?b]``). Each pattern is searched only when
# its character occurs at all (``in`` is a memchr; a regular expression over 10 MB costs ~50 ms).
_TAG_START = re.compile(r"[\s\[\]{},]!")
_HEADER_COMMENT = re.compile(r"[|>][-+0-9]*#")
_QUESTION_IN_SCALAR = re.compile(r"\S\?")


def _libyaml_reads_as_reference(text: str) -> bool:
    """False for text where libyaml's scanner may accept what the reference refuses: it goes to the reference."""
    if "\t" in text or "\ufeff" in text:
        return False
    if "!" in text and (text.startswith("!") or _TAG_START.search(text)):
        return False
    if "#" in text and ("|" in text or ">" in text) and _HEADER_COMMENT.search(text):
        return False
    flow = "[" in text or "{" in text
    return not ("?" in text and flow and _QUESTION_IN_SCALAR.search(text))


def load_all(text: str) -> list[Any]:
    """Every document in ``text``, exactly as ``yaml.load_all(text, GoYAMLLoader)`` reads them.

    Raises ``yaml.YAMLError`` with the reference reader's message and position.
    """
    if HAVE_LIBYAML and _libyaml_reads_as_reference(text):
        try:
            with _no_gc():
                return list(yaml.load_all(text, Loader=_FastGoLoader))
        except yaml.YAMLError:
            pass  # re-read with the reference, for its exact message (or its result, should libyaml be stricter)
    with _no_gc():
        return list(yaml.load_all(text, Loader=GoYAMLLoader))


def load(text: str) -> Any:
    """The single document in ``text``, exactly as ``yaml.load(text, GoYAMLLoader)`` reads it."""
    if HAVE_LIBYAML and _libyaml_reads_as_reference(text):
        try:
            with _no_gc():
                return yaml.load(text, Loader=_FastGoLoader)
        except yaml.YAMLError:
            pass
    with _no_gc():
        return yaml.load(text, Loader=GoYAMLLoader)


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with multi-line strings as literal blocks, like controller-gen's output (reference)."""


def _str_representer(dumper: Any, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    node: yaml.Node = dumper.represent_scalar(_STR, value, style=style)
    return node


_Dumper.add_representer(str, _str_representer)

_FastDumper: type[Any] = _Dumper
if HAVE_LIBYAML:

    class _CDumper(yaml.CSafeDumper):
        """The same representers over libyaml's emitter."""

    _CDumper.add_representer(str, _str_representer)
    _FastDumper = _CDumper


def dump(obj: Any, *, fast: bool = True) -> str:
    """``obj`` (a mapping or a list) as block-style YAML; ``fast=False`` uses the pure-Python emitter, the reference.

    For a bare scalar the two emitters differ (the pure one adds a ``...`` end marker); manifests never are one.
    """
    dumper = _FastDumper if fast else _Dumper
    text: str = yaml.dump(obj, Dumper=dumper, sort_keys=False, default_flow_style=False, width=100)
    return text
