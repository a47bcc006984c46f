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
* **The regular shape, faster still.** Before either, a line reader tries the shape ``kubectl get -o yaml``
  and yaml.v2 print (block collections, one scalar per line, literal blocks): it builds the dicts and
  lists straight from the lines, several times faster than libyaml plus PyYAML's nodes. It accepts only
  what it is sure the reference reads the same way and hands anything else, errors included, to the
  readers above, so it never changes a result or a message (same test, and its own differential tests).
* **Go's writing.** ``dump`` writes block-style YAML with multi-line strings as literal blocks (as
  controller-gen does), with libyaml's emitter when present; its output is byte-for-byte the pure
  emitter's (same test).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .gcpause import collector_paused
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
                    return _plain_tag(value) if tag is None else tag  # type: ignore[arg-type]
                return _STR
            return _SEQ if kind is SequenceNode else _MAP

        def construct_document(self, node: Node) -> Any:
            try:
                return _build(self, node)
            except _Unusual:
                return super().construct_document(node)

    if GoYAMLLoader.yaml_path_resolvers:  # pragma: no cover - nothing registers any
        raise ImportError("crds.yamlio: path resolvers are not supported by the fast reader")


# --- the line reader: the regular shape, in a fraction of libyaml's time -----------------------------------
#
# ``kubectl get -o yaml``, yaml.v2 and controller-gen print one regular shape: block mappings and sequences
# (sequences not indented under their key), one scalar per line, plain or simply quoted, ``{}`` and ``[]``
# for empty collections, literal blocks (``|``) for multi-line strings. Reading that shape line by line
# builds the dicts and lists directly: no libyaml events, no PyYAML nodes and marks. The reader only ever
# accepts what it is sure of; anything else (flow collections, anchors, tags, escapes, multi-line plain
# or quoted scalars, comments after a value, non-string keys, duplicate keys, tabs, odd indentation, any
# error) makes it give up, and the whole text goes to libyaml and the reference as before. So its result
# is the reference's by construction and it never reports an error itself.

#: First characters the line reader leaves to the full reader: YAML indicators (which would make the
#: scalar something else, or an error), and a space (odd indentation).
_IRREGULAR_FIRST = frozenset("-?:,[]{}#&*!|>'\"%@` ")
#: Text the line reader refuses as a whole: controls, tabs, carriage returns (ASCII text)...
_ASCII_IRREGULAR = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
#: ...and the other YAML line breaks and the byte-order mark (any text).
_UNICODE_IRREGULAR = re.compile("[\x85\u2028\u2029\ufeff]")
#: Nesting the line reader follows (the reference's limit is ``MAX_DEPTH``; deeper goes to it).
_LINE_DEPTH = 50
#: A key longer than this goes to the full reader (YAML limits a simple key to 1,024 characters).
_LINE_KEY_MAX = 1000


class _Irregular(Exception):
    """The text leaves the regular shape: the full reader takes it."""


def _regular_text(text: str) -> bool:
    if text.isascii():
        return _ASCII_IRREGULAR.search(text) is None
    return (
        yaml.reader.Reader.NON_PRINTABLE.search(text) is None
        and "\t" not in text
        and "\r" not in text
        and _UNICODE_IRREGULAR.search(text) is None
    )


_converter: list[GoYAMLLoader] = []  # a reference loader, for its scalar constructors (made on first use)


def _plain_tag(value: str) -> str:
    """The tag of a plain scalar, through the cache the libyaml reader shares."""
    tag = _plain_tags.get(value)
    if tag is None:
        tag = _resolve_plain(value)
        if len(_plain_tags) < _PLAIN_TAGS_MAX:
            _plain_tags[value] = tag
    return tag


def _plain(value: str) -> Any:
    """A plain scalar on one line, as the reference reads it (or ``_Irregular``)."""
    if value[:1] in _IRREGULAR_FIRST or ": " in value or " #" in value or value[-1] in ": ":
        raise _Irregular
    tag = _plain_tag(value)
    if tag == _STR:
        return value
    if tag == _NULL:
        return None
    convert = _SCALARS.get(tag)
    if convert is None:
        raise _Irregular  # a timestamp, a merge or value key: the full reader's business
    if not _converter:
        _converter.append(GoYAMLLoader(""))
    try:
        result = convert(_converter[0], ScalarNode(tag, value))
    except yaml.YAMLError:
        raise _Irregular from None
    return result


# Keys already checked, and scalar values already read (immutable: str, int, float, bool, None), by their
# text: manifests repeat both. Bounded, for hostile input.
_good_keys: set[str] = set()
_known_scalars: dict[str, Any] = {}
_MISSING = object()


def _check_key(key: str) -> None:
    """A plain key of type str on one line (``_Irregular`` otherwise), remembered."""
    if (
        not key
        or key[0] in _IRREGULAR_FIRST
        or key[-1] == " "
        or " #" in key
        or len(key) > _LINE_KEY_MAX
        or _plain_tag(key) != _STR  # keys of other types (and merge keys) go to the full reader
    ):
        raise _Irregular
    if len(_good_keys) < _PLAIN_TAGS_MAX:
        _good_keys.add(key)


def _scalar(text: str) -> Any:
    """A scalar value written on one line: plain, quoted without escapes, or ``{}`` / ``[]``."""
    value = _one_line_scalar(text)
    if value.__class__ is not dict and value.__class__ is not list and len(_known_scalars) < _PLAIN_TAGS_MAX:
        _known_scalars[text] = value
    return value


def _one_line_scalar(text: str) -> Any:
    first = text[:1]
    if first == '"':
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner:
            raise _Irregular
        return inner
    if first == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
            raise _Irregular
        return inner.replace("''", "'")
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if not text:
        raise _Irregular
    return _plain(text)


class _LineReader:
    """Reads the regular shape; every method raises ``_Irregular`` outside it.

    A method reading a node gets the index of its first line (whose indentation it is told) and returns
    the node and the index of the line after it.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.end = len(self.lines)

    def next(self, i: int) -> tuple[int, int, str]:
        """The first line at or after ``i`` that is not blank or a comment: index, indentation, content."""
        lines, end = self.lines, self.end
        while i < end:
            line = lines[i]
            content = line.lstrip(" ")
            if content and content[0] != "#":
                return i, len(line) - len(content), content
            i += 1
        return end, 0, ""

    def documents(self) -> list[Any]:
        docs: list[Any] = []
        i, indent, content = self.next(0)
        while i < self.end:
            if indent:
                raise _Irregular  # an indented top-level node
            if content == "---":
                i, indent, content = self.next(i + 1)
                if i == self.end or (not indent and content == "---"):
                    docs.append(None)
                    continue
                if indent:
                    raise _Irregular
            elif content.startswith(("---", "...", "%")):
                raise _Irregular  # a marker with content, a document end, a directive
            value, i = self.block(i, 0, content, 1)
            docs.append(value)
            i, indent, content = self.next(i)
            if i < self.end and (indent or content != "---"):
                raise _Irregular
        return docs

    def block(self, i: int, indent: int, content: str, depth: int) -> tuple[Any, int]:
        """The block mapping or sequence starting at line ``i``."""
        if content.startswith("- ") or content == "-":
            return self.sequence(i, indent, content, depth)
        if ": " in content or content[-1] == ":":
            return self.mapping(i, indent, content, depth)
        raise _Irregular  # a scalar on its own line (multi-line, or a bare document)

    def mapping(self, i: int, indent: int, content: str, depth: int) -> tuple[dict[str, Any], int]:
        if depth > _LINE_DEPTH:
            raise _Irregular
        out: dict[str, Any] = {}
        lines, end = self.lines, self.end
        good_keys, known, missing = _good_keys, _known_scalars, _MISSING
        value: Any
        while True:
            key, colon, rest = content.partition(": ")
            if not colon:
                if content[-1] != ":":
                    raise _Irregular
                key = content[:-1]
            if key not in good_keys:
                _check_key(key)
            if key in out:
                raise _Irregular  # the reference's error
            if colon:
                value = known.get(rest, missing)
                if value is not missing:
                    i += 1
                elif rest[:1] == "|":
                    value, i = self.literal(i, indent, rest)
                else:
                    value = _scalar(rest)
                    i += 1
            else:
                j, inner, below = self.next(i + 1)
                if j < end and inner > indent:
                    value, i = self.block(j, inner, below, depth + 1)
                elif j < end and inner == indent and (below.startswith("- ") or below == "-"):
                    value, i = self.sequence(j, indent, below, depth + 1)  # not indented under its key
                else:
                    value, i = None, i + 1
            out[key] = value
            # The next key, inlined from next(): this loop runs once per line of a manifest.
            while i < end:
                line = lines[i]
                content = line.lstrip(" ")
                if content and content[0] != "#":
                    break
                i += 1
            else:
                return out, i
            at = len(line) - len(content)
            if at < indent or (not at and content == "---"):
                return out, i
            if at > indent:
                raise _Irregular  # a continuation line, or an error

    def sequence(self, i: int, indent: int, content: str, depth: int) -> tuple[list[Any], int]:
        if depth > _LINE_DEPTH:
            raise _Irregular
        out: list[Any] = []
        value: Any
        while True:
            item = content[1:].lstrip(" ")  # its column: indentation as wide as "- " or wider ("-   ")
            column = indent + len(content) - len(item)
            if not item:  # "-" alone: the entry is on the next lines, more indented, or null
                j, inner, below = self.next(i + 1)
                if j < self.end and inner > indent:
                    value, i = self.block(j, inner, below, depth + 1)
                else:
                    value, i = None, i + 1
            elif item[0] == "|":
                value, i = self.literal(i, indent, item)
            elif item[0] == ">":
                raise _Irregular  # a folded block scalar
            elif item.startswith("- "):
                value, i = self.sequence(i, column, item, depth + 1)
            elif item[0] not in "\"'" and (": " in item or item[-1] == ":"):
                value, i = self.mapping(i, column, item, depth + 1)
            else:
                value = _known_scalars.get(item, _MISSING)
                if value is _MISSING:
                    value = _scalar(item)
                i += 1
            out.append(value)
            i, at, content = self.next(i)
            if i == self.end or at < indent:
                return out, i
            if at > indent:
                raise _Irregular
            if not content.startswith("- ") and content != "-":
                return out, i  # the mapping this sequence is a value of goes on

    def literal(self, i: int, indent: int, header: str) -> tuple[str, int]:
        """A literal block scalar (``|`` or ``|-``) whose header ends line ``i``."""
        if header not in ("|", "|-"):
            raise _Irregular
        lines, end = self.lines, self.end
        j = i + 1
        if j >= end:
            raise _Irregular
        first = lines[j]
        content = first.lstrip(" ")
        width = len(first) - len(content)
        if not content or width <= indent:
            raise _Irregular  # leading blank lines, or an empty scalar
        pad = first[:width]
        body: list[str] = []
        while j < end:
            line = lines[j]
            if line.startswith(pad):
                body.append(line[width:])
            elif not line:
                body.append("")
            elif line.strip(" ") and line.lstrip(" ")[0] != "#":
                break
            else:
                raise _Irregular  # a line of spaces, or a comment, ending the block
            j += 1
        else:
            if lines[-1]:
                raise _Irregular  # the text ends without a line break, which the scalar would then lack
        while body[-1] == "":
            body.pop()
        for line in body:
            if line and not line.strip(" "):
                raise _Irregular  # spaces-only lines: the reference's rules for them are subtle
        text = "\n".join(body)
        return (text if header == "|-" else text + "\n"), j


def _regular_load_all(text: str) -> list[Any] | None:
    """The documents of ``text`` if it has the regular shape (as the reference reads them), else None."""
    if not _regular_text(text):
        return None
    try:
        return _LineReader(text).documents()
    except _Irregular:
        return None


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
    with collector_paused():
        regular = _regular_load_all(text)
    if regular is not None:
        return regular
    if HAVE_LIBYAML and _libyaml_reads_as_reference(text):
        try:
            with collector_paused():
                return list(yaml.load_all(text, Loader=_FastGoLoader))
        except yaml.YAMLError:
            pass  # re-read with the reference, for its exact message (or its result, should libyaml be stricter)
    with collector_paused():
        return list(yaml.load_all(text, Loader=GoYAMLLoader))


def load(text: str) -> Any:
    """The single document in ``text``, exactly as ``yaml.load(text, GoYAMLLoader)`` reads it."""
    with collector_paused():
        regular = _regular_load_all(text)
    if regular is not None and len(regular) <= 1:  # two documents: the reference's error
        return regular[0] if regular else None
    if HAVE_LIBYAML and _libyaml_reads_as_reference(text):
        try:
            with collector_paused():
                return yaml.load(text, Loader=_FastGoLoader)
        except yaml.YAMLError:
            pass
    with collector_paused():
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
