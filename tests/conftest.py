"""Test-wide rules. In CI (``CI=true``) a skipped test is a failed test: a green run means everything ran."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Wall-clock deadlines per example make property tests flaky on a loaded 2-core machine; the properties, not
# the speed, are under test here (speed lives in `make bench`).
settings.register_profile("pymetallb", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pymetallb")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which is not allowed (CI=true): {reason}"
