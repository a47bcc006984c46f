"""BGP unit tests run on asyncio through anyio's pytest plugin (``@pytest.mark.anyio``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_peer import FakePeer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def peer() -> AsyncIterator[FakePeer]:
    """A FakePeer on loopback, closed after the test."""
    p = await FakePeer().start()
    yield p
    await p.close()
