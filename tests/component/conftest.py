"""Component tests: real packets between network namespaces (tests/netlab.py). Root and Debian packages needed
(`make sysdeps`); outside CI they skip with what to install, in CI a skip is a failure (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from netlab import Lab, missing_requirements


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    why = missing_requirements()
    if why:
        pytest.skip(why)
    with Lab(request.node.name[:6].replace("_", "")) as lab:
        yield lab
