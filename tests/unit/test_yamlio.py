"""The fast YAML reader (libyaml) and the reference (PyYAML's pure-Python reader with Go's rules) agree exactly.

Agreement means: the same data, or the same exception class with the same text (message, line, column,
snippet). Proven on every golden file (inputs, expected outputs, and the legacy config inside a ConfigMap),
on generated Kubernetes-like documents written in many YAML styles, and on the same documents broken by
one edit (a character deleted, doubled or replaced by YAML syntax, a key repeated) and on single bytes.
The line reader (the fast path for the regular shape ``kubectl get -o yaml`` prints) is checked on its own
too: whatever it accepts, it reads as the reference does (types included), and it accepts the exports it
exists for. The writer is checked the same way: libyaml's emitter writes byte for byte what the pure emitter writes.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crds import yamlio
from crds.manifests import read_text_documents

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def reference(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yamlio.GoYAMLLoader))


def outcome(read: Any, text: str) -> tuple[str, Any]:
    try:
        return "ok", read(text)
    except Exception as exc:  # every exception, so a bare ValueError would show as a disagreement
        return type(exc).__name__, str(exc)


def assert_agree(text: str) -> None:
    expected = outcome(reference, text)
    got = outcome(yamlio.load_all, text)
    assert got == expected, text
    assert repr(got) == repr(expected), text  # the same types too: 1 == 1.0 == True
    if expected[0] == "ok" and len(expected[1]) == 1:
        assert outcome(yamlio.load, text) == ("ok", expected[1][0]), text


def test_this_pyyaml_has_libyaml() -> None:
    """Without libyaml the reference reader runs (correct, but ~20x slower): `pip install PyYAML` wheels have it."""
    if not yamlio.HAVE_LIBYAML:
        pytest.skip("PyYAML without libyaml: reinstall PyYAML from its manylinux wheel (pip install --force PyYAML)")
    assert yamlio._FastGoLoader.__mro__[1] is yaml.CSafeLoader


# --- golden files ------------------------------------------------------------------------------------


def golden_texts() -> list[tuple[str, str]]:
    found = []
    for path in sorted(GOLDEN.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        found.append((str(path.relative_to(GOLDEN)), text))
        try:
            doc = reference(text)
        except yaml.YAMLError:
            continue
        for item in doc:
            if isinstance(item, dict) and isinstance(item.get("data"), dict):
                inner = item["data"].get("config")
                if isinstance(inner, str):
                    found.append((f"{path.relative_to(GOLDEN)}#data.config", inner))
    return found


GOLDEN_TEXTS = golden_texts()


def test_golden_files_are_found() -> None:
    assert len(GOLDEN_TEXTS) >= 40
    assert any(name.endswith("#data.config") for name, _ in GOLDEN_TEXTS)


@pytest.mark.parametrize(("name", "text"), GOLDEN_TEXTS, ids=[n for n, _ in GOLDEN_TEXTS])
def test_readers_agree_on_golden_file(name: str, text: str) -> None:
    assert_agree(text)


@pytest.mark.parametrize(("name", "text"), GOLDEN_TEXTS, ids=[n for n, _ in GOLDEN_TEXTS])
def test_writers_agree_on_golden_file(name: str, text: str) -> None:
    try:
        docs = reference(text)
    except yaml.YAMLError:
        return
    for doc in docs:
        assert yamlio.dump(doc) == yamlio.dump(doc, fast=False)


# --- Go's rules, as a user sees them -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("community: 1:2\n", {"community": "1:2"}, id="no-base-60-int"),
        pytest.param("x: 1:2.5\n", {"x": "1:2.5"}, id="no-base-60-float"),
        pytest.param("x: 0x1F\n", {"x": 31}, id="hex-int"),
        pytest.param("x: 1_000\n", {"x": 1000}, id="underscore-int"),
        pytest.param("x: yes\ny: off\n", {"x": True, "y": False}, id="yaml-1.1-bools-like-go-yaml-v2"),
        pytest.param("x: 1e5\n", {"x": "1e5"}, id="exponent-without-sign-is-a-string"),
        pytest.param("x: ~\ny:\n", {"x": None, "y": None}, id="nulls"),
        pytest.param("<<: {a: 1}\nb: 2\n", {"a": 1, "b": 2}, id="merge-key"),
    ],
)
def test_go_scalar_rules(text: str, expected: dict[str, Any]) -> None:
    assert yamlio.load(text) == expected
    assert reference(text) == [expected]


def test_duplicate_key_is_an_error_at_the_second_key() -> None:
    docs, errors = read_text_documents("apiVersion: v1\nkind: Service\nkind: Pod\n", "svc.yaml")
    assert docs == []
    assert [e.line() for e in errors] == ['svc.yaml:3:1: invalid YAML: mapping key "kind" already defined']


def test_a_bad_explicit_scalar_is_a_yaml_error_not_a_traceback() -> None:
    docs, errors = read_text_documents("port: !!int eighty\n", "svc.yaml")
    assert docs == []
    assert [e.line() for e in errors] == ['svc.yaml:1:7: invalid YAML: cannot read "eighty" as !!int']


def test_aliases_share_one_object_and_cycles_match_the_reference() -> None:
    doc = yamlio.load("a: &x [1, 2]\nb: *x\n")
    assert doc["a"] is doc["b"]
    looped = yamlio.load("&a [*a]")
    assert looped[0] is looped
    assert_agree("&a {x: *a}")  # refused by the reference: a cycle through a mapping
    assert repr(yamlio.load("&m {x: [*m]}")) == repr(reference("&m {x: [*m]}")[0])


def test_deep_nesting_is_an_error_or_data_never_a_crash() -> None:
    for depth in (50, 500):
        assert_agree("[" * depth + "]" * depth)
        assert_agree("a:\n" + "".join(" " * i + "a:\n" for i in range(1, depth)))


# --- generated documents -----------------------------------------------------------------------------

TRICKY = [
    "1:2", "65535:65282", "yes", "No", "on", "OFF", "true", "~", "null", "", "0", "007", "0o17", "0x1F", "0b101",
    "1_000", "-1", "+1", "1.5", ".5", "1e5", "1.0e+3", ".inf", "-.Inf", ".nan", "2026-01-01", "2026-01-01T10:00:00Z",
    "10.0.0.0/24", "fd00::/120", "192.0.2.1-192.0.2.9", "<<", "=", "a b", "a: b", "- x", "#x", "x #y", "'q'", '"q"',
    "ünïcödé", "tab\there", "line\nbreak", "\\", "@at", "`tick", "%pct", "!bang", "&amp", "*star", "{x}", "[y]",
]  # fmt: skip
names = st.text(alphabet=string.ascii_lowercase + "-.", min_size=1, max_size=8)
scalars = st.one_of(
    st.sampled_from(TRICKY), st.integers(-(2**70), 2**70), st.booleans(), st.none(), names, st.floats(allow_nan=False)
)


def documents_with(keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
        max_leaves=20,
    )


documents = documents_with(st.one_of(names, st.sampled_from(TRICKY)))
# The emitters differ only on an empty key (pure: "? ''", libyaml: "'': "), which reads back the same.
documents_to_write = documents_with(st.one_of(names, st.sampled_from([t for t in TRICKY if t])))
styles = st.fixed_dictionaries(
    {
        "default_flow_style": st.sampled_from([False, True, None]),
        "default_style": st.sampled_from([None, "", "'", '"', "|", ">"]),
        "indent": st.sampled_from([2, 4]),
        "width": st.sampled_from([20, 80]),
        "explicit_start": st.booleans(),
    }
)
SYNTAX = list(":-?[]{},&*!|>'\"%@`#\t\n \x00\x85\ufeff\u2028")


def render(doc: Any, style: dict[str, Any], unquoted: bool) -> str:
    """YAML text for ``doc``; ``unquoted`` strips the quotes PyYAML adds, so plain scalars get resolved."""
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, **style)
    return text.replace("'", "") if unquoted else text


@settings(max_examples=300)
@given(
    docs=st.lists(documents, min_size=1, max_size=3),
    style=styles,
    unquoted=st.booleans(),
)
def test_readers_agree_on_generated_documents(docs: list[Any], style: dict[str, Any], unquoted: bool) -> None:
    text = "---\n".join(render(d, style, unquoted) for d in docs)
    assert_agree(text)


def broken(text: str, edit: str, where: float, char: str) -> str:
    """``text`` with one edit at the relative position ``where``: a character deleted, doubled, replaced by or
    preceded by ``char``, or (``repeat-line``) a line repeated, often a duplicate key."""
    i = int(where * (len(text) - 1))
    if edit == "delete":
        return text[:i] + text[i + 1 :]
    if edit == "double":
        return text[: i + 1] + text[i:]
    if edit == "replace":
        return text[:i] + char + text[i + 1 :]
    if edit == "insert":
        return text[:i] + char + text[i:]
    lines = text.splitlines(keepends=True)
    j = int(where * (len(lines) - 1))
    return "".join([*lines[: j + 1], lines[j], *lines[j + 1 :]])


@settings(max_examples=400)
@given(
    doc=documents,
    style=styles,
    unquoted=st.booleans(),
    edit=st.sampled_from(["delete", "double", "replace", "insert", "repeat-line"]),
    where=st.floats(0, 1),
    char=st.sampled_from(SYNTAX),
)
def test_readers_agree_on_broken_documents(
    doc: Any, style: dict[str, Any], unquoted: bool, edit: str, where: float, char: str
) -> None:
    assert_agree(broken(render(doc, style, unquoted), edit, where, char))


@pytest.mark.parametrize("code", range(256))
def test_readers_agree_on_one_character(code: int) -> None:
    assert_agree(chr(code))
    assert_agree(f"a: {chr(code)}\n")


@settings(max_examples=200)
@given(doc=st.one_of(st.lists(documents_to_write, max_size=4), st.dictionaries(names, documents_to_write, max_size=4)))
def test_writers_agree_on_generated_data(doc: Any) -> None:
    """Manifests are mappings (a bare scalar would differ: the pure emitter ends it with ``...``)."""
    assert yamlio.dump(doc) == yamlio.dump(doc, fast=False)
    assert reference(yamlio.dump(doc)) == [doc]


def test_an_empty_key_is_written_differently_but_reads_back_the_same() -> None:
    doc = [{"": None, "a": [{"": "x"}]}]
    assert reference(yamlio.dump(doc)) == reference(yamlio.dump(doc, fast=False)) == [doc]


# --- the line reader (the regular shape) -------------------------------------------------------------


def assert_line_reader_agrees(text: str) -> bool:
    """The line reader reads ``text`` as the reference does, or declines it; True if it read it."""
    got = yamlio._regular_load_all(text)
    if got is None:
        return False
    expected = outcome(reference, text)
    assert expected[0] == "ok", f"the line reader accepted what the reference refuses: {text!r}"
    assert repr(got) == repr(expected[1]), text
    return True


@pytest.mark.parametrize(("name", "text"), GOLDEN_TEXTS, ids=[n for n, _ in GOLDEN_TEXTS])
def test_line_reader_agrees_on_golden_file(name: str, text: str) -> None:
    assert_line_reader_agrees(text)


def test_line_reader_reads_the_golden_files_in_the_regular_shape() -> None:
    """The golden files written as tools print YAML (block style) are read by the line reader, not declined."""
    read = [name for name, text in GOLDEN_TEXTS if assert_line_reader_agrees(text)]
    assert len(read) >= 60, read


KUBECTL_SERVICE = """\
- apiVersion: v1
  kind: Service
  metadata:
    annotations:
      meta.helm.sh/release-name: app{i}
    creationTimestamp: "2026-11-20T10:00:0{i}Z"
    labels:
      app.kubernetes.io/name: web
    name: svc-{i}
    namespace: ns
    resourceVersion: "10{i}"
    uid: 6f1c2a3b-000{i}-4c5d-8e9f-00000000000{i}
  spec:
    allocateLoadBalancerNodePorts: true
    clusterIP: 10.96.0.{i}
    clusterIPs:
    - 10.96.0.{i}
    ipFamilies:
    - IPv4
    ports:
    - name: http
      nodePort: 3000{i}
      port: 80
      protocol: TCP
      targetPort: http
    selector:
      app.kubernetes.io/name: web
    sessionAffinity: None
    type: LoadBalancer
  status:
    loadBalancer: {{}}
"""
KUBECTL_EXPORT = (
    "apiVersion: v1\nitems:\n"
    + "".join(KUBECTL_SERVICE.format(i=i) for i in range(3))
    + 'kind: List\nmetadata:\n  resourceVersion: ""\n'
)


def test_line_reader_reads_a_kubectl_export() -> None:
    """What ``kubectl get svc -A -o yaml`` prints goes through the line reader, with the reference's types."""
    assert assert_line_reader_agrees(KUBECTL_EXPORT)
    docs, errors = read_text_documents(KUBECTL_EXPORT, "svc.yaml")
    assert errors == []
    assert [d.name for d in docs] == ["svc-0", "svc-1", "svc-2"]
    spec = docs[1].data["spec"]
    assert spec["ports"] == [{"name": "http", "nodePort": 30001, "port": 80, "protocol": "TCP", "targetPort": "http"}]
    assert spec["allocateLoadBalancerNodePorts"] is True
    assert docs[1].data["metadata"]["creationTimestamp"] == "2026-11-20T10:00:01Z"
    assert docs[1].data["status"] == {"loadBalancer": {}}


LAST_APPLIED = """\
apiVersion: v1
kind: Service
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"type":"LoadBalancer"}}
  name: web
spec:
  type: LoadBalancer
"""


@pytest.mark.parametrize(
    ("text", "read"),
    [
        pytest.param(LAST_APPLIED, True, id="last-applied-configuration-literal-block"),
        pytest.param("a: |\n  x\n\n  y\n\nb: 1\n", True, id="literal-keeps-inner-blank-lines-clips-trailing"),
        pytest.param("a: |-\n  x\n\n\nb: 1\n", True, id="literal-strip"),
        pytest.param("a: |\n    x\n  y\n", False, id="literal-less-indented-line"),
        pytest.param("a: |\n  x\n", True, id="literal-at-the-end"),
        pytest.param("a: |\n  x", False, id="literal-at-the-end-without-line-break"),
        pytest.param("a: |\n  x\n   \nb: 1\n", False, id="literal-line-of-spaces"),
        pytest.param("a: |\n   # c\n  x\nb: 1", False, id="literal-comment-then-less-indented"),
        pytest.param("a: |+\n  x\n\n", False, id="literal-keep"),
        pytest.param("a: >\n  x\n", False, id="folded"),
        pytest.param("ports:\n- port: 80\n  name: a\n- port: 81\nnext: x\n", True, id="sequence-not-indented"),
        pytest.param("- a:\n  - x\n  b: 1\n", True, id="sequence-not-indented-in-an-item"),
        pytest.param("a:\n  - x\n  b: 1\n", False, id="key-after-indented-sequence"),
        pytest.param("a: 'it''s'\nb: \"q: #\"\n", True, id="quoted"),
        pytest.param('a: "esc\\n"\n', False, id="double-quoted-escape"),
        pytest.param("a: 'x\n  y'\n", False, id="quoted-over-two-lines"),
        pytest.param("a: x\n  y\n", False, id="plain-over-two-lines"),
        pytest.param("# c\na: 1 # c\n", False, id="comment-after-a-value"),
        pytest.param("# c\na:\n  # c\n  b: 1\n\n", True, id="comment-and-blank-lines"),
        pytest.param("a: 1\n---\n---\nb: [x]\n", False, id="flow-sequence"),
        pytest.param("a: 1\n---\n---\nb: []\n---\n", True, id="documents-and-empty-documents"),
        pytest.param("--- a\n", False, id="marker-with-content"),
        pytest.param("a: 1\n...\n", False, id="document-end"),
        pytest.param("a: 1\na: 2\n", False, id="duplicate-key"),
        pytest.param("1: a\nyes: b\n", False, id="keys-not-strings"),
        pytest.param("<<: x\n", False, id="merge-key"),
        pytest.param("a: 2026-01-01\n", False, id="timestamp"),
        pytest.param("a: yes\nb: 0x1F\nc: ~\nd: 1:2\ne: .5\nf: 1e5\n", True, id="go-scalar-rules"),
        pytest.param("a: 0b_\n", False, id="int-that-does-not-convert"),
        pytest.param("a: b: c\n", False, id="mapping-in-a-plain-value"),
        pytest.param("a:\tb\n", False, id="tab"),
        pytest.param("a: &x 1\nb: *x\n", False, id="anchor"),
        pytest.param("  a: 1\n", False, id="indented-document"),
        pytest.param("- - a\n  - b\n- c\n", True, id="nested-sequence-on-one-line"),
        pytest.param("-   a: 1\n    b: [x]\n", False, id="entry-indented-four"),
        pytest.param("-   a: 1\n    b: 2\n-   - x\n", True, id="entries-indented-four"),
        pytest.param("-\n  a: 1\n-\n- x\n", True, id="entry-on-the-next-line-or-null"),
        pytest.param("- |\n  x\n- |-\n   y\n", True, id="literal-entries"),
        pytest.param("- >\n  x\n", False, id="folded-entry"),
        pytest.param("a:b\n", False, id="plain-scalar-with-colon-as-document"),
        pytest.param("- a:b\n- c\n", True, id="colon-inside-a-plain-item"),
        pytest.param("k\u00e9y: v\u00e4l\n", True, id="unicode"),
        pytest.param("a: \u2028\n", False, id="unicode-line-separator"),
        pytest.param("a: " + "x" * 2000 + "\n" + "b" * 1100 + ": 1\n", False, id="long-key"),
    ],
)
def test_line_reader_reads_or_declines(text: str, read: bool) -> None:
    assert assert_line_reader_agrees(text) is read
    assert_agree(text)


def test_line_reader_declines_deep_nesting() -> None:
    text = "a:\n" + "".join(" " * i + "a:\n" for i in range(1, 80))
    assert yamlio._regular_load_all(text) is None
    assert_agree(text)


block_styles = st.fixed_dictionaries(
    {
        "default_flow_style": st.just(False),
        "default_style": st.sampled_from([None, None, "'", '"', "|"]),
        "indent": st.sampled_from([2, 2, 4]),
        "width": st.sampled_from([20, 100]),
        "explicit_start": st.booleans(),
    }
)


# Objects as clusters export them: mappings at the top, string keys, mostly plain scalars.
regular_scalars = st.one_of(
    names, st.integers(0, 2**40), st.booleans(), st.none(), st.sampled_from(TRICKY), st.text(string.printable)
)
regular_names = st.builds(str.__add__, st.sampled_from(string.ascii_letters), names)
regular_documents = st.dictionaries(
    regular_names,
    st.recursive(
        regular_scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(regular_names, inner, max_size=4)),
        max_leaves=30,
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=400)
@given(
    docs=st.lists(st.one_of(documents, regular_documents, regular_documents), min_size=1, max_size=3),
    style=block_styles,
    unquoted=st.booleans(),
)
def test_line_reader_agrees_on_generated_block_documents(
    docs: list[Any], style: dict[str, Any], unquoted: bool
) -> None:
    text = "---\n".join(render(d, style, unquoted) for d in docs)
    assert_line_reader_agrees(text)


@settings(max_examples=400)
@given(
    doc=st.one_of(documents, regular_documents),
    style=block_styles,
    unquoted=st.booleans(),
    edit=st.sampled_from(["delete", "double", "replace", "insert"]),
    where=st.floats(0, 1),
    char=st.sampled_from([*SYNTAX, "a", "1", "---\n"]),
)
def test_line_reader_agrees_on_broken_block_documents(
    doc: Any, style: dict[str, Any], unquoted: bool, edit: str, where: float, char: str
) -> None:
    text = broken(render(doc, style, unquoted), edit, where, char)
    assert_line_reader_agrees(text)
    assert_agree(text)


# Documents indented by hand: any width per level, sequences under their key or not, "-" followed by one or
# more spaces, literal blocks indented more than needed, comments and blank lines between entries. Shapes
# PyYAML's emitter never writes, where an indentation rule of the line reader could differ from YAML's.
# Mostly what the line reader reads, now and then what it declines (so one such leaf declines a document).
HAND_SCALARS = ["a", "x y", "80", "~", "a:b", "é", "1:2", ".5", "0x1F", "'it''s'", '"q: #"', "{}", "[]"] * 3 + [
    "-",
    "a #b",
    "yes",
]
HAND_LITERALS = [("x",), ("x", "", "y"), ("x", "  y"), ("x", ""), ("# not a comment",), ("", "x"), ("x", "   ")]


@st.composite
def hand_node(draw: st.DrawFn, depth: int = 0) -> tuple[Any, ...]:
    if depth and (depth > 3 or draw(st.integers(0, 3)) == 0):
        if draw(st.integers(0, 5)):
            return ("scalar", draw(st.sampled_from(HAND_SCALARS)))
        return ("literal", draw(st.sampled_from(HAND_LITERALS)), draw(st.sampled_from(["|", "|-"] * 4 + ["|+"])))
    size = draw(st.integers(1, 3))
    if draw(st.booleans()):
        keys = st.sampled_from(["a", "b", "c", "key", "k-1", "a b"])
        return ("map", [(draw(keys), draw(hand_node(depth + 1))) for _ in range(size)])
    return ("seq", [draw(hand_node(depth + 1)) for _ in range(size)])


def hand_write(draw: st.DrawFn, node: tuple[Any, ...], indent: int, out: list[str], lead: str | None) -> None:
    """Append ``node``'s lines; ``lead`` is what its first line starts with (a key or a dash), if anything."""
    if node[0] == "scalar":
        out.append(f"{lead} {node[1]}" if lead is not None else " " * indent + node[1])
        return
    if node[0] == "literal":
        out.append((f"{lead} " if lead is not None else " " * indent) + node[2])
        width = indent + draw(st.integers(0, 3))
        out.extend(" " * width + line if line else draw(st.sampled_from(["", " " * width])) for line in node[1])
        return
    if lead is not None:
        out.append(lead)
    step = draw(st.integers(1, 4))
    for item in node[1]:
        if draw(st.integers(0, 15)) == 0:
            out.append(" " * draw(st.integers(0, 6)) + draw(st.sampled_from(["# c", ""])))
        if draw(st.integers(0, 30)) == 0:
            out.append(" " * draw(st.integers(0, 6)) + "x")  # a stray line
        if node[0] == "map":
            key, value = item
            if value[0] == "seq" and draw(st.booleans()):
                out.append(" " * indent + key + ":")
                hand_write(draw, value, indent, out, None)  # the sequence not indented under its key
            else:
                hand_write(draw, value, indent + step, out, " " * indent + key + ":")
            continue
        dash = draw(st.sampled_from(["- "] * 6 + ["-  ", "-   ", "-"]))
        if item[0] == "map" and dash != "-" and draw(st.booleans()):
            sub: list[str] = []
            hand_write(draw, item, indent + len(dash), sub, None)  # the first key on the dash's line
            sub[0] = " " * indent + dash + sub[0][indent + len(dash) :]
            out.extend(sub)
        else:
            hand_write(draw, item, indent + 2, out, " " * indent + dash.rstrip())


@st.composite
def hand_written(draw: st.DrawFn) -> str:
    out: list[str] = []
    for n in range(draw(st.integers(1, 2))):
        if n or draw(st.booleans()):
            out.append("---")
        hand_write(draw, draw(hand_node()), 0, out, None)
    return "\n".join(out) + draw(st.sampled_from(["\n", "", "\n\n"]))


@settings(max_examples=500)
@given(text=hand_written())
def test_line_reader_agrees_on_hand_indented_documents(text: str) -> None:
    assert_line_reader_agrees(text)
