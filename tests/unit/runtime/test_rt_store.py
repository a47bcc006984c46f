"""Store: replace derives deletions, apply applies events, subscribers see every change once, synced gates."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rt_fakes import cm

from reconciler.runtime.resources import CONFIGMAPS, SERVICES
from reconciler.runtime.store import Store

Change = tuple[str, Any, Any]


def recorder(store: Store) -> list[Change]:
    seen: list[Change] = []

    def cb(res: Any, key: str, old: Any, new: Any) -> None:
        seen.append((key, old and old["metadata"]["resourceVersion"], new and new["metadata"]["resourceVersion"]))

    store.subscribe(cb)
    return seen


def test_replace_derives_deletions_additions_and_changes() -> None:
    store = Store()
    store.replace(CONFIGMAPS, [cm("a", "1"), cm("b", "2"), cm("c", "3")], "3")
    seen = recorder(store)
    store.replace(CONFIGMAPS, [cm("a", "1"), cm("b", "5"), cm("d", "6")], "6")
    assert seen == [("ns/c", "3", None), ("ns/b", "2", "5"), ("ns/d", None, "6")]
    assert [o["metadata"]["name"] for o in store.list(CONFIGMAPS)] == ["a", "b", "d"]
    assert store.resource_version(CONFIGMAPS) == "6"


def test_replace_is_atomic_for_readers_in_callbacks() -> None:
    store = Store()
    store.replace(CONFIGMAPS, [cm("a", "1"), cm("b", "1")], "1")
    views: list[list[str]] = []
    store.subscribe(lambda *_: views.append(store.keys(CONFIGMAPS)))
    store.replace(CONFIGMAPS, [cm("c", "2")], "2")
    assert views and all(v == ["ns/c"] for v in views), views


def test_apply_adds_modifies_and_deletes() -> None:
    store = Store()
    seen = recorder(store)
    store.apply(CONFIGMAPS, "ADDED", cm("a", "1"))
    store.apply(CONFIGMAPS, "MODIFIED", cm("a", "2"))
    store.apply(CONFIGMAPS, "DELETED", cm("a", "3"))
    assert seen == [("ns/a", None, "1"), ("ns/a", "1", "2"), ("ns/a", "2", None)]
    assert store.get(CONFIGMAPS, "ns/a") is None
    assert store.resource_version(CONFIGMAPS) == "3"
    with pytest.raises(ValueError, match="BOOKMARK"):
        store.apply(CONFIGMAPS, "BOOKMARK", cm("a", "4"))


def test_list_by_namespace_and_cluster_scoped_keys() -> None:
    store = Store()
    store.replace(CONFIGMAPS, [cm("a", "1", ns="x"), cm("b", "1", ns="y")], "1")
    assert [o["metadata"]["name"] for o in store.list(CONFIGMAPS, "y")] == ["b"]
    node = {"metadata": {"name": "n1", "resourceVersion": "1"}}
    store.apply(SERVICES, "ADDED", node)
    assert store.get(SERVICES, "n1") is node


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    store = Store()

    def bad(*_: Any) -> None:
        raise RuntimeError("boom")

    store.subscribe(bad)
    seen = recorder(store)
    store.apply(CONFIGMAPS, "ADDED", cm("a", "1"))
    assert seen == [("ns/a", None, "1")]


def test_unsubscribe() -> None:
    store = Store()
    calls: list[str] = []
    unsub = store.subscribe(lambda res, key, old, new: calls.append(key))
    unsub()
    store.apply(CONFIGMAPS, "ADDED", cm("a", "1"))
    assert calls == []


@pytest.mark.anyio
async def test_synced_only_after_the_first_full_list_of_every_kind() -> None:
    store = Store()
    store.apply(CONFIGMAPS, "ADDED", cm("a", "1"))
    assert not store.synced(CONFIGMAPS)
    waiter = asyncio.create_task(store.wait_synced(CONFIGMAPS, SERVICES))
    store.replace(CONFIGMAPS, [], "1")
    await asyncio.sleep(0)
    assert store.synced(CONFIGMAPS) and not waiter.done()
    store.replace(SERVICES, [], "1")
    await asyncio.wait_for(waiter, 1)


def _by_label(obj: dict[str, Any]) -> list[str]:
    value = (obj["metadata"].get("labels") or {}).get("svc")
    return [value] if value else []


def _labeled(name: str, rv: str, svc: str | None) -> dict[str, Any]:
    obj = cm(name, rv)
    if svc is not None:
        obj["metadata"]["labels"] = {"svc": svc}
    return obj


def test_an_index_follows_adds_moves_deletes_and_relists() -> None:
    store = Store()
    store.replace(CONFIGMAPS, [_labeled("a", "1", "x"), _labeled("b", "1", "y")], "1")
    store.add_index(CONFIGMAPS, "svc", _by_label)  # objects already stored are indexed at once
    assert [o["metadata"]["name"] for o in store.by_index(CONFIGMAPS, "svc", "x")] == ["a"]
    store.apply(CONFIGMAPS, "ADDED", _labeled("c", "2", "x"))
    store.apply(CONFIGMAPS, "MODIFIED", _labeled("b", "3", "x"))  # moves from y to x
    assert [o["metadata"]["name"] for o in store.by_index(CONFIGMAPS, "svc", "x")] == ["a", "b", "c"]
    assert store.by_index(CONFIGMAPS, "svc", "y") == []
    assert store.index_values(CONFIGMAPS, "svc") == ["x"]
    store.apply(CONFIGMAPS, "DELETED", _labeled("a", "4", "x"))
    store.replace(CONFIGMAPS, [_labeled("b", "3", "x"), _labeled("d", "5", None)], "5")  # c vanished in a relist
    assert [o["metadata"]["name"] for o in store.by_index(CONFIGMAPS, "svc", "x")] == ["b"]
    assert store.index_values(CONFIGMAPS, "svc") == ["x"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["ADDED", "MODIFIED", "DELETED", "RELIST"]),
            st.sampled_from("abcde"),
            st.sampled_from(["x", "y", None]),
        ),
        max_size=40,
    )
)
def test_an_index_answers_what_a_scan_answers_through_any_churn(ops: list[tuple[str, str, str | None]]) -> None:
    # One key per value is stored as the key itself, two or more as a set: every transition between the two.
    store = Store()
    store.add_index(CONFIGMAPS, "svc", _by_label)
    for i, (op, name, svc) in enumerate(ops):
        if op == "RELIST":
            kept = [o for o in store.list(CONFIGMAPS) if o["metadata"]["name"] != name]
            store.replace(CONFIGMAPS, [*kept, _labeled(name, str(i), svc)], str(i))
        else:
            store.apply(CONFIGMAPS, op, _labeled(name, str(i), svc))
        for value in ("x", "y"):
            scan = [o for o in store.list(CONFIGMAPS) if _by_label(o) == [value]]
            assert store.by_index(CONFIGMAPS, "svc", value) == scan
        assert store.index_values(CONFIGMAPS, "svc") == sorted(
            {v for o in store.list(CONFIGMAPS) for v in _by_label(o)}
        )


def test_an_unknown_index_or_a_duplicate_index_is_refused() -> None:
    store = Store()
    with pytest.raises(KeyError, match="no index 'svc'"):
        store.by_index(CONFIGMAPS, "svc", "x")
    store.add_index(CONFIGMAPS, "svc", _by_label)
    with pytest.raises(ValueError, match="already has an index"):
        store.add_index(CONFIGMAPS, "svc", _by_label)


def test_an_index_of_a_kind_never_stored_answers_empty() -> None:
    store = Store()
    store.add_index(SERVICES, "svc", _by_label)
    assert store.by_index(SERVICES, "svc", "x") == []
