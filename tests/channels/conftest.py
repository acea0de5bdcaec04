"""Fixtures of the channel tests: the fake Graph API (WhatsApp Cloud API) on a local port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.graph_api import FakeGraphApi


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi() as api:
        yield api
