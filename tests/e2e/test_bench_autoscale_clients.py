"""bench/autoscale's clients against a real chat node: they get in (with tickets), talk,
and count nothing lost. Guards the bench against protocol changes it would otherwise
survive silently (its clients once kept failing to connect and the day measured nothing)."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.autoscale.load import LoadClient, Tally
from bench.autoscale.run import seed

from tests.e2e.server import ServerHandle
from tests.e2e.tickets import issue_ticket
from tests.e2e.wskit import chat_node
from tests.polling import until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with chat_node(tmp_path_factory, "autoscale-clients") as handle:
        yield handle


async def test_the_days_clients_connect_talk_and_lose_nothing(server: ServerHandle) -> None:
    slots = await seed(server.url, users=3, room_size=3)
    tally = Tally()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        clients = [
            LoadClient(
                server.url.replace("http://", "ws://"),
                functools.partial(issue_ticket, http, token),
                room,
                f"c{index}",
                rate=5.0,
                tally=tally,
                rng=random.Random(index),
            )
            for index, (token, room) in enumerate(slots)
        ]
        for client in clients:
            client.start()
        try:
            # Each client acks some of its own messages and receives the others'.
            await until(lambda: len(tally.acked) >= 15 and len(tally.latencies) >= 30)
        finally:
            await asyncio.gather(*(client.stop() for client in clients))
    missing = [await client.settle(5.0) for client in clients]
    assert tally.lost == 0 and tally.duplicated == 0 and missing == [0, 0, 0]
    assert tally.reconnects == 0


async def test_a_refused_ticket_is_retried_like_a_drop(tmp_path: Path) -> None:
    """No fleet at all: the client backs off and keeps trying, it does not die."""
    tally = Tally()
    async with httpx.AsyncClient(base_url="http://127.0.0.1:9", timeout=1) as http:
        client = LoadClient(
            "ws://127.0.0.1:9",
            functools.partial(issue_ticket, http, "no-such-token"),
            "room",
            "c",
            rate=1.0,
            tally=tally,
            rng=random.Random(1),
        )
        client.start()
        try:
            await until(lambda: tally.reconnects >= 1)
        finally:
            await client.stop()
    assert tally.sent == 0
