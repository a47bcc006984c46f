"""Membership timers from flag values: durations in ms or s, defaults kept, impossible combinations refused."""

from __future__ import annotations

import argparse

import pytest

from speaker.membership.timers import Timers, add_timer_flags, parse_duration, timers_from_args, timers_from_flags


@pytest.mark.parametrize(("text", "seconds"), [("100ms", 0.1), ("0.1s", 0.1), ("0.1", 0.1), ("2", 2.0), (".5s", 0.5)])
def test_durations_accept_milliseconds_seconds_and_bare_numbers(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_flag_values_override_only_what_is_given() -> None:
    t = timers_from_flags({"--ml-probe-interval": "80ms", "indirect_checks": "2", "gossip_fanout": None})
    assert t == Timers(probe_interval=0.08, indirect_checks=2)


def test_the_argparse_flags_round_trip_into_timers() -> None:
    parser = argparse.ArgumentParser()
    add_timer_flags(parser)
    args = parser.parse_args(["--ml-suspicion-min", "300ms", "--ml-suspicion-max-mult", "4"])
    assert timers_from_args(args) == Timers(suspicion_min=0.3, suspicion_max_mult=4.0)
    assert timers_from_args(parser.parse_args([])) == Timers()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"probe_timeout": "50ms"},
            "--ml-probe-timeout: must be shorter than --ml-probe-interval",
            id="timeout-not-shorter",
        ),
        pytest.param({"probe_interval": "fast"}, "--ml-probe-interval: 'fast' is not a duration", id="not-a-duration"),
        pytest.param({"indirect_checks": "1.5"}, "--ml-indirect-checks: '1.5' is not an integer", id="not-an-integer"),
        pytest.param({"gossip_fanout": "0"}, "--ml-gossip-fanout: must be at least 1", id="no-fanout"),
        pytest.param({"suspicion_min": "0"}, "--ml-suspicion-min: must be greater than 0", id="zero-suspicion"),
        pytest.param({"probe_rate": "1"}, "probe_rate: not a membership timer", id="unknown"),
    ],
)
def test_values_that_cannot_work_are_refused_naming_the_flag(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        timers_from_flags(values)
    assert str(exc.value).startswith(message)


def test_every_default_documents_its_reason() -> None:
    import ast
    import inspect

    import speaker.membership.timers as mod

    tree = ast.parse(inspect.getsource(mod))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Timers")
    documented = set()
    body = cls.body
    for i, node in enumerate(body[:-1]):
        nxt = body[i + 1]
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            documented.add(node.target.id)  # type: ignore[union-attr]
    fields = {n.target.id for n in body if isinstance(n, ast.AnnAssign)}  # type: ignore[union-attr]
    assert fields and documented == fields
