from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faultserver import FaultServer


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A fresh misbehaving model host per test, stopped (with any held streams cut) afterwards."""
    with FaultServer() as server:
        yield server
