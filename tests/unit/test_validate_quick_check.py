"""``validate``'s quick schema check never passes an object jsonschema would reject, and passes the valid ones.

Base objects: every CR of the golden migrate outputs (all six kinds). Each is mutated by Hypothesis (a value
replaced by another of any JSON type, a key added or removed, anywhere in the object); whenever the quick check
says "surely valid", jsonschema (Draft 7, the validator ``validate`` words its errors with) must find nothing.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crds.types import kind_for
from crds.validate import _root_schema, _strict_schema, apply_defaults, surely_valid

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "migrate"


def base_objects() -> list[tuple[type[Any], dict[str, Any]]]:
    found = []
    for path in sorted(GOLDEN.glob("*/stdout.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            kind = kind_for(doc["apiVersion"], doc["kind"]) if isinstance(doc, dict) else None
            if kind is not None:
                found.append((kind, apply_defaults(_root_schema(kind), doc)))
    return found


BASES = base_objects()


def jsonschema_errors(kind: type[Any], value: Any) -> list[str]:
    schema = _strict_schema(kind)
    return [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(value)]


def test_every_kind_is_covered_and_valid_objects_pass_the_quick_check() -> None:
    assert {k.api.kind for k, _ in BASES} >= {
        "IPAddressPool", "BGPPeer", "BGPAdvertisement", "L2Advertisement", "BFDProfile", "Community",
    }  # fmt: skip
    for kind, obj in BASES:
        assert jsonschema_errors(kind, obj) == []
        assert surely_valid(_strict_schema(kind), obj), obj


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=5)
    | st.sampled_from(["", "65535:65282", "192.0.2.0/24", "1.0", "Local", "true"]) | st.just(1.0),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def mutate(obj: Any, path: tuple[Any, ...], edit: str, new: Any, key: str) -> Any:
    obj = copy.deepcopy(obj)
    if not path:
        return new if edit == "replace" else obj
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if edit == "replace":
        parent[last] = new
    elif edit == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][key] = new
    return obj


@settings(max_examples=500)
@given(
    index=st.integers(0, 10_000),
    where=st.integers(0, 10_000),
    edit=st.sampled_from(["replace", "delete", "add-key"]),
    new=json_values,
    key=st.sampled_from(["name", "addresses", "autoAssign", "extra", "spec", "peerASN", "x"]),
)
def test_the_quick_check_passes_nothing_jsonschema_rejects(
    index: int, where: int, edit: str, new: Any, key: str
) -> None:
    kind, base = BASES[index % len(BASES)]
    all_paths = paths(base)
    value = mutate(base, all_paths[where % len(all_paths)], edit, new, key)
    if surely_valid(_strict_schema(kind), value):
        assert jsonschema_errors(kind, value) == [], value


@pytest.mark.parametrize("value", [1.0, True, None, [1], {"a": 1}], ids=["float", "bool", "null", "list", "dict"])
def test_draft7_subtleties_go_to_jsonschema(value: Any) -> None:
    assert not surely_valid({"type": "integer", "enum": [1]}, value)
    assert not surely_valid({"type": "string", "pattern": "x"}, "x")  # a keyword it does not know


TRICKY = [1.5, 1.0, True, False, "x", "", None, -1, 0, 2**40, 65536, [], {}, ["x"], {"x": 1}]


def test_every_value_replaced_by_every_tricky_value() -> None:
    """Exhaustive over the base objects' paths: each value (leaf or not) replaced by each tricky value."""
    passed = 0
    for kind, base in BASES:
        for path in paths(base)[1:]:
            for new in TRICKY:
                value = mutate(base, path, "replace", new, "")
                if surely_valid(_strict_schema(kind), value):
                    passed += 1
                    assert jsonschema_errors(kind, value) == [], (path, new)
    assert passed > 100  # the check does pass many objects (it is not "always ask jsonschema")


@pytest.mark.parametrize(
    ("schema", "value", "quick"),
    [
        pytest.param({"enum": ["a", "b"]}, "a", True, id="enum-member"),
        pytest.param({"enum": ["a", "b"]}, "c", False, id="enum-other"),
        pytest.param({"type": "object", "required": ["a"]}, {}, False, id="required-missing"),
        pytest.param({"type": "array", "minItems": 1}, [], False, id="min-items"),
        pytest.param({"type": "string", "maxLength": 2}, "abc", False, id="max-length"),
        pytest.param({"type": "integer", "maximum": 3}, 4, False, id="maximum"),
    ],
)
def test_each_keyword_agrees_with_jsonschema(schema: dict[str, Any], value: Any, quick: bool) -> None:
    assert surely_valid(schema, value) is quick
    assert (not list(jsonschema.Draft7Validator(schema).iter_errors(value))) is quick
