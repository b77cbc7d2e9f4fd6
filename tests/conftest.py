"""Shared fixtures: one real stack per test session, on free loopback ports.

The helpers the tests use with them live in tests/support/stack.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from riskwatch.receiver_client import ReceiverClient
from riskwatch.settings import Settings, load_settings
from riskwatch.stack.runner import Stack
from tests.support.stack import TEST_TOKEN, free_ports, running_stack


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    state = tmp_path_factory.mktemp("stack-state")
    return load_settings(state_dir=state, stack=free_ports(), receiver_token=TEST_TOKEN)


@pytest.fixture(scope="session")
def stack(stack_settings: Settings) -> Iterator[Stack]:
    """The real pipeline: Prometheus, Alertmanager, Pushgateway, PostgreSQL, receiver, sinks."""
    with running_stack(stack_settings) as runner:
        yield runner


@pytest.fixture(scope="session")
def receiver(stack: Stack) -> ReceiverClient:
    """The receiver's API with the session's token."""
    return ReceiverClient(stack.settings.url.receiver, TEST_TOKEN, timeout=5)


@pytest.fixture(scope="session")
def outbox(stack: Stack) -> Path:
    return stack.layout.outbox
