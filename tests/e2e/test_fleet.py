"""The fleet, for real: two chat nodes, a media node and a worker behind nginx.

PostgreSQL (a fresh database), a private Redis, Celery on Redis and Debian's nginx; every
client goes through nginx. One fleet serves the module; each test uses its own room.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from bench.procs import Process

from tests.e2e.fleet import (
    Fleet,
    confab_command,
    exited,
    node_metric,
    run_fleet,
    ws_connections,
)
from tests.e2e.fleet_client import RoomClient
from tests.e2e.server import ServerHandle
from tests.e2e.timeline import View, fold, from_history
from tests.integration.batch_support import image_size, write_image
from tests.openapi_check import checked
from tests.polling import until

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
BATCH = 12  # renders in the worker-kill test


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with run_fleet(tmp_path_factory.mktemp("fleet")) as running:
        yield running


@pytest.fixture
async def http(fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
    async with await checked(fleet.url, timeout=30) as client:
        yield client


async def _user(http: httpx.AsyncClient) -> str:
    body = {"username": f"u{uuid.uuid4().hex[:10]}", "password": PASSWORD}
    assert (await http.post("/api/accounts", json=body)).status_code == 201
    response = await http.post("/api/tokens", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


async def _room_with(http: httpx.AsyncClient, count: int) -> tuple[str, list[str]]:
    """A new public room and `count` member tokens (the first owns it)."""
    tokens = [await _user(http) for _ in range(count)]
    room = f"r{uuid.uuid4().hex[:10]}"
    auth = {"Authorization": f"Bearer {tokens[0]}"}
    assert (await http.post("/api/rooms", json={"name": room}, headers=auth)).status_code == 201
    for token in tokens[1:]:
        joined = await http.post(
            f"/api/rooms/{room}/members", headers={"Authorization": f"Bearer {token}"}
        )
        assert joined.status_code == 200, joined.text
    return room, tokens


async def _clients(fleet: Fleet, room: str, tokens: list[str]) -> list[RoomClient]:
    clients = [RoomClient(fleet.ws_url(t), room, f"c{i}") for i, t in enumerate(tokens)]
    await asyncio.gather(*(client.start() for client in clients))
    return clients


async def _stored_last_seq(http: httpx.AsyncClient, room: str, token: str) -> int:
    response = await http.get(
        f"/api/rooms/{room}/messages",
        params={"before": 2**31, "limit": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    messages = response.json()["messages"]
    return int(messages[-1]["seq"]) if messages else 0


def _live(nodes: list[ServerHandle]) -> list[ServerHandle]:
    return [node for node in nodes if node.alive()]


async def test_clients_on_both_nodes_get_every_message_in_one_order(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    room, tokens = await _room_with(http, 8)
    clients = await _clients(fleet, room, tokens)
    try:
        # nginx spread the connections: both chat nodes hold some.
        assert all(ws_connections(node) > 0 for node in fleet.chat), fleet.logs()
        sends = [
            client.send(f"{client.name} says {i}", f"{client.name}-{i}")
            for i in range(10)
            for client in clients[:4]
        ]
        seqs = await asyncio.gather(*sends)
        base = clients[0].base  # the members joining took the first seqs
        assert sorted(seqs) == list(range(base + 1, base + 41))
        for client in clients:
            await client.wait_for_seq(base + 40)
        reference = [(m["seq"], m["id"], m["text"]) for m in clients[0].messages]
        for client in clients[1:]:
            assert [(m["seq"], m["id"], m["text"]) for m in client.messages] == reference
    finally:
        await asyncio.gather(*(client.close() for client in clients))


async def test_worker_killed_during_a_batch_a_new_worker_finishes_every_job(
    fleet: Fleet, tmp_path: Path
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    # Large PNGs (no shrink-on-load): each render takes a while, so the kill lands mid-batch.
    original = write_image(tmp_path / "large.png", 6000, 6000)
    for i in range(BATCH):
        shutil.copyfile(original, sources / f"img{i:02}.png")
    local_out, queued_out = tmp_path / "local", tmp_path / "queued"
    options = ["--size", "320x240", "--fit-in", "--processes", "1"]
    # The reference: the local process pool (the fleet's settings name Celery).
    local_env = {**fleet.env, "CONFAB_JOBS_URL": "local://"}
    confab_command("thumbs", str(sources), "-o", str(local_out), *options, env=local_env)

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "confab.cli", "thumbs", str(sources), "-o", str(queued_out),
        *options, "--jobs-url", fleet.env["CONFAB_JOBS_URL"], "--json",
        env={**os.environ, **fleet.env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    # Kill the only worker once it has rendered part of the batch, then start another.
    worker = fleet.workers[-1]
    before = worker.jobs_done()
    broker = redis.Redis.from_url(fleet.env["CONFAB_JOBS_URL"])
    # Mid-batch and mid-job: two renders done and a message taken but not acknowledged
    # (acks_late: Celery's Redis transport keeps it in its "unacked" hash until the end).
    await until(
        lambda: worker.jobs_done() >= before + 2 and broker.hlen("unacked"),
        60,
        "mid-batch",
        detail=fleet.logs,
    )
    worker.kill()
    broker.close()
    assert worker.jobs_done() < before + BATCH, "the worker had finished the batch before the kill"
    fleet.start_worker()
    stdout, stderr = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, (stdout.decode(), stderr.decode(), fleet.logs())
    summary = json.loads(stdout)["summary"]
    assert (summary["ok"], summary["failed"]) == (BATCH, 0)
    # The job the killed worker held came back: through the broker's visibility timeout, or
    # sooner when Celery's main process outlived its pool child by a moment and requeued it
    # (task_reject_on_worker_lost), which a loaded machine makes likely. Either way every job
    # is done once, above; which path ran is a matter of scheduling, not of correctness.
    local = sorted(p.name for p in local_out.iterdir())
    assert len(local) == BATCH
    assert sorted(p.name for p in queued_out.iterdir()) == local
    for name in local:
        # The same bytes as the local run: the worker ran the same renderer.
        assert (queued_out / name).read_bytes() == (local_out / name).read_bytes(), name
        assert max(image_size(queued_out / name)) <= 320


async def test_worker_sigterm_mid_batch_finishes_its_job_and_loses_none(
    fleet: Fleet, tmp_path: Path
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    original = write_image(tmp_path / "large.png", 6000, 6000)
    for i in range(BATCH):
        shutil.copyfile(original, sources / f"img{i:02}.png")
    out = tmp_path / "out"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "confab.cli", "thumbs", str(sources), "-o", str(out),
        "--size", "320x240", "--fit-in", "--jobs-url", fleet.env["CONFAB_JOBS_URL"], "--json",
        env={**os.environ, **fleet.env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    # The only worker autoscales (Celery's autoscaler, 1 to 2 processes).
    old = fleet.workers[-1]
    old.stop()
    worker = fleet.start_worker("--autoscale", "2,1")
    broker = redis.Redis.from_url(fleet.env["CONFAB_JOBS_URL"])
    deadline = asyncio.get_running_loop().time() + 60
    while _jobs_ok(worker) < 2 or not broker.hlen("unacked"):  # mid-batch and mid-job
        assert asyncio.get_running_loop().time() < deadline, worker.log()[-3000:]
        await asyncio.sleep(0.005)
    broker.close()
    worker.process.send_signal(signal.SIGTERM)  # Celery's warm shutdown
    replacement = fleet.start_worker()
    stdout, stderr = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, (stdout.decode(), stderr.decode(), fleet.logs())
    assert await exited(worker.process, 30) == 0, worker.log()[-3000:]
    summary = json.loads(stdout)["summary"]
    assert (summary["ok"], summary["failed"]) == (BATCH, 0)
    assert len(list(out.iterdir())) == BATCH
    done_by_first, done_by_second = _finished_jobs(worker), _finished_jobs(replacement)
    # The job running at SIGTERM finished on the old worker; the rest went to the new one.
    assert 2 <= len(done_by_first) < BATCH
    # No job ran twice to completion, none is missing.
    assert not set(done_by_first) & set(done_by_second)
    assert len(done_by_first) + len(done_by_second) == len(set(done_by_first + done_by_second))
    assert "worker stopped" in worker.log() and "Warm shutdown" in worker.log()


def _finished_jobs(worker: Process) -> list[str]:
    """Job ids the worker logged as done ("ok"), in order."""
    done = []
    for line in worker.log().splitlines():
        if line.startswith("{") and '"msg":"job"' in line:
            record = json.loads(line)
            if record.get("outcome") == "ok":
                done.append(str(record["job_id"]))
    return done


def _jobs_ok(worker: Process) -> int:
    return len(_finished_jobs(worker))


async def test_redis_restart_nodes_recover_and_delivery_goes_on(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    room, tokens = await _room_with(http, 4)
    clients = await _clients(fleet, room, tokens)
    try:
        base = clients[0].base
        await clients[0].send("before", "before")
        for client in clients:
            await client.wait_for_seq(base + 1)
        fleet.redis.restart()
        # Sends go on during and after the outage; every client ends with all of them.
        for i in range(10):
            await clients[i % 4].send(f"after {i}", f"after-{i}")
        for client in clients:
            await client.wait_for_seq(base + 11, timeout=60)
            assert [m["seq"] for m in client.messages] == list(range(base + 1, base + 12))
        assert await _stored_last_seq(http, room, tokens[0]) == base + 11
        for node in fleet.chat:
            # Each node's subscriber noticed the restart and came back (on /metrics).
            assert node_metric(node, "confab_bus_reconnects_total") >= 1
    finally:
        await asyncio.gather(*(client.close() for client in clients))


async def test_node_added_then_one_drained_during_a_send_storm_nothing_lost(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    """Scale out then in under load: a third node joins, one of the first two drains."""
    room, tokens = await _room_with(http, 24)
    clients = await _clients(fleet, room, tokens)
    victim = fleet.chat[0]
    try:
        on_victim = int(ws_connections(victim))
        assert on_victim >= 4, "too few clients landed on the node to drain"
        senders = clients[:6]
        per_sender = 50
        total = per_sender * len(senders)
        storm = asyncio.gather(*(_send_many(sender, per_sender) for sender in senders))
        await _until_acked(fleet, senders, total // 5)
        added = fleet.add_chat_node()
        await _until_acked(fleet, senders, 2 * total // 5)
        sigterm_at = time.time()
        victim.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(storm, 120)
        grace = float(fleet.env["CONFAB_SHUTDOWN_GRACE_SECONDS"])
        assert await exited(victim.process, grace + 10) == 0, victim.log()[-3000:]
        fleet.chat.remove(victim)
        fleet.route_to_live_nodes()

        acked = {cid: seq for s in senders for cid, seq in s.acks.items()}
        assert len(acked) == total
        last = await _room_last_seq(http, room, tokens[0])
        for client in clients:
            await client.wait_for_seq(last, timeout=60)
            # Every event once, in order (joins take seqs too: count from the client's base).
            assert [e["seq"] for e in client.events] == list(range(client.base + 1, last + 1))
            by_text = {m["text"]: m["seq"] for m in client.messages}
            assert by_text == {_storm_text(cid): seq for cid, seq in acked.items()}
            assert client.reconnects <= 2, (client.name, client.drops)
        # Every client of the drained node got a 1012 close frame (none a bare reset,
        # senders included), and those closes are spread over the grace period.
        drained = sorted(t for c in clients for t, code, _ in c.drops if t >= sigterm_at)
        codes = [code for c in clients for t, code, _ in c.drops if t >= sigterm_at]
        assert codes == [1012] * on_victim, codes
        assert all("retry_ms=" in reason for c in clients for _, _, reason in c.drops)
        spread = drained[-1] - drained[0]
        assert spread >= 0.4 * grace, drained
        busiest = max(sum(1 for t in drained if start <= t < start + 1) for start in drained)
        assert busiest <= max(2, (on_victim + 1) // 2), drained
        # Every client is back on a live node: the survivor or the one added. (Which one is
        # nginx's round robin over two requests per reconnect, a ticket then the upgrade: with
        # two nodes their parity can send every upgrade to the same node, so no share is
        # asserted.)
        survivor = next(node for node in fleet.chat if node is not added)

        def all_back() -> bool:
            return ws_connections(added) + ws_connections(survivor) == len(clients)

        await until(all_back, 30, "every client connected to a live node", detail=fleet.logs)
    finally:
        await asyncio.gather(*(client.close() for client in clients))


async def _until_acked(fleet: Fleet, senders: list[RoomClient], count: int) -> None:
    def acked() -> bool:
        return sum(len(s.acks) for s in senders) >= count

    await until(acked, 60, f"{count} sends acked", detail=fleet.logs)


async def _send_many(client: RoomClient, count: int) -> None:
    for i in range(count):
        client_id = f"{client.name}-storm-{i}"
        await client.send(_storm_text(client_id), client_id)


async def test_chat_node_killed_during_a_storm_nothing_acked_is_lost_or_doubled(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    """Sends, reactions and edits in a storm; one node killed; every client ends with
    every event exactly once, in one order, and the same state as the history."""
    # Last in the module: it leaves one chat node dead.
    room, tokens = await _room_with(http, 10)
    clients = await _clients(fleet, room, tokens)
    victim = fleet.chat[0]
    try:
        assert ws_connections(victim) > 0, "no client landed on the node to kill"
        senders = clients[:5]
        per_sender = 40
        storm = asyncio.gather(
            *(_storm(fleet, sender, tokens[i], per_sender) for i, sender in enumerate(senders))
        )
        # Kill the node mid-storm, once a fifth of it was acked.
        fifth = lambda: sum(len(s.acks) for s in senders) >= per_sender  # noqa: E731
        await until(fifth, 60, "a fifth of the storm acked", detail=fleet.logs)
        victim.process.kill()
        victim.process.wait()
        await asyncio.wait_for(storm, 120)
        total = per_sender * len(senders)
        acked = {cid: seq for s in senders for cid, seq in s.acks.items() if "-storm-" in cid}
        assert len(acked) == total
        last = await _room_last_seq(http, room, tokens[0])
        history = await _history(http, room, tokens[0])
        for client in clients:
            await client.wait_for_seq(last, timeout=60)
            # The client checked every event's seq: no gap, no duplicate, one order.
            assert [e["seq"] for e in client.events] == list(range(client.base + 1, last + 1))
            # Texts are unique per client_id: each acked message is there once, at its seq.
            by_text = {m["text"]: m["seq"] for m in client.messages}
            assert by_text == {_storm_text(cid): seq for cid, seq in acked.items()}
            # Each reaction and each edit arrived exactly once.
            reactions = Counter(
                (e["target"], e["emoji"], e["user"])
                for e in client.events
                if e["type"] == "reaction_added"
            )
            assert reactions and set(reactions.values()) == {1}
            edits = Counter(
                (e["target"], e["text"]) for e in client.events if e["type"] == "message_edited"
            )
            assert edits and set(edits.values()) == {1}
            view: View = {}
            for event in client.events:
                fold(view, event)
            assert view == from_history(history)
        assert any(client.reconnects for client in clients)
        assert _live(fleet.chat) == fleet.chat[1:]
    finally:
        await asyncio.gather(*(client.close() for client in clients))


def _storm_text(client_id: str) -> str:
    return f"storm message {client_id}"


async def _storm(fleet: Fleet, client: RoomClient, token: str, count: int) -> None:
    """Send `count` messages; react to every fourth, edit every fifth (over HTTP)."""
    for i in range(count):
        client_id = f"{client.name}-storm-{i}"
        await client.send(_storm_text(client_id), client_id)
        message_id = client.ids[client_id]
        if i % 4 == 0:
            await client.react(message_id, "👍", f"{client.name}-react-{i}")
        if i % 5 == 0:
            await _edit(fleet, token, client.room, message_id, f"edited {client_id}")


async def _edit(fleet: Fleet, token: str, room: str, message_id: int, text: str) -> None:
    """PATCH until a node answers (an edit to the same text is idempotent)."""
    for _ in range(50):
        try:
            async with httpx.AsyncClient(base_url=fleet.url, timeout=10) as http:
                response = await http.patch(
                    f"/api/rooms/{room}/messages/{message_id}",
                    json={"text": text},
                    headers={"Authorization": f"Bearer {token}"},
                )
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"edit of {message_id} never went through")


async def _room_last_seq(http: httpx.AsyncClient, room: str, token: str) -> int:
    response = await http.get(f"/api/rooms/{room}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return int(response.json()["last_seq"])


async def _history(http: httpx.AsyncClient, room: str, token: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    after = 0
    while True:
        response = await http.get(
            f"/api/rooms/{room}/messages",
            params={"after": after, "limit": 100},
            headers={"Authorization": f"Bearer {token}"},
        )
        page = response.json()
        messages += page["messages"]
        if not page["has_more"]:
            return messages
        after = messages[-1]["seq"]
