from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_gateway import FakeGateway, serve  # noqa: E402

from writ import WritClient  # noqa: E402


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    server = serve(fake)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def client(gateway: FakeGateway) -> WritClient:
    return WritClient(gateway.url, "wk_test_key", retries=2)
