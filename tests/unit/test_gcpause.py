"""collector_paused: the collector is off inside and back as it was afterwards, also after an exception."""

from __future__ import annotations

import gc

import pytest

from crds.gcpause import collector_paused


def test_the_collector_is_off_inside_and_on_again_after_even_on_error() -> None:
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
