"""Fixtures for the data-source adapters: a local Polygon, a fake TWS, a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sources.polygon_server import FakeClock, FakePolygon, serve_polygon


@pytest.fixture
def polygon() -> Iterator[FakePolygon]:
    with serve_polygon() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
