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
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from bench.procs import Process

from tests.e2e.fleet import Fleet, confab_command, node_metric, run_fleet, ws_connections
from tests.e2e.fleet_client import RoomClient
from tests.e2e.server import ServerHandle
from tests.integration.batch_support import image_size, write_image

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
BATCH = 12  # renders in the worker-kill test


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with run_fleet(tmp_path_factory.mktemp("fleet")) as running:
        yield running


@pytest.fixture
async def http(fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fleet.url, timeout=30) as client:
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
        assert sorted(seqs) == list(range(1, 41))
        for client in clients:
            await client.wait_for_seq(40)
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
    deadline = asyncio.get_running_loop().time() + 60
    broker = redis.Redis.from_url(fleet.env["CONFAB_JOBS_URL"])
    # Mid-batch and mid-job: two renders done and a message taken but not acknowledged
    # (acks_late: Celery's Redis transport keeps it in its "unacked" hash until the end).
    while worker.jobs_done() < before + 2 or not broker.hlen("unacked"):
        assert asyncio.get_running_loop().time() < deadline, fleet.logs()
        await asyncio.sleep(0.005)
    worker.kill()
    broker.close()
    assert worker.jobs_done() < before + BATCH, "the worker had finished the batch before the kill"
    fleet.start_worker()
    stdout, stderr = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, (stdout.decode(), stderr.decode(), fleet.logs())
    summary = json.loads(stdout)["summary"]
    assert (summary["ok"], summary["failed"]) == (BATCH, 0)
    # The job the killed worker held came back only after the broker's visibility timeout.
    assert summary["elapsed"] > float(fleet.env["CONFAB_JOBS_VISIBILITY_TIMEOUT_SECONDS"])
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
    assert worker.process.wait(timeout=30) == 0, worker.log()[-3000:]
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
        await clients[0].send("before", "before")
        for client in clients:
            await client.wait_for_seq(1)
        fleet.redis.restart()
        # Sends go on during and after the outage; every client ends with all of them.
        for i in range(10):
            await clients[i % 4].send(f"after {i}", f"after-{i}")
        for client in clients:
            await client.wait_for_seq(11, timeout=60)
            assert [m["seq"] for m in client.messages] == list(range(1, 12))
        assert await _stored_last_seq(http, room, tokens[0]) == 11
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
        assert victim.process.wait(timeout=grace + 10) == 0, victim.log()[-3000:]
        fleet.chat.remove(victim)
        fleet.route_to_live_nodes()

        acked = {cid: seq for s in senders for cid, seq in s.acks.items()}
        assert sorted(acked.values()) == list(range(1, total + 1))
        for client in clients:
            await client.wait_for_seq(total, timeout=60)
            assert [m["seq"] for m in client.messages] == list(range(1, total + 1))
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
        # The new node took its share of the reconnections.
        assert ws_connections(added) > 0
    finally:
        await asyncio.gather(*(client.close() for client in clients))


async def _until_acked(fleet: Fleet, senders: list[RoomClient], count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while sum(len(s.acks) for s in senders) < count:
        assert asyncio.get_running_loop().time() < deadline, fleet.logs()
        await asyncio.sleep(0.01)


async def test_chat_node_killed_during_a_send_storm_nothing_acked_is_lost(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    # Last in the module: it leaves one chat node dead.
    room, tokens = await _room_with(http, 10)
    clients = await _clients(fleet, room, tokens)
    victim = fleet.chat[0]
    try:
        assert ws_connections(victim) > 0, "no client landed on the node to kill"
        senders = clients[:5]
        per_sender = 40
        storm = asyncio.gather(*(_send_many(sender, per_sender) for sender in senders))
        deadline = asyncio.get_running_loop().time() + 60
        while sum(len(s.acks) for s in senders) < per_sender:  # a fifth of the storm
            assert asyncio.get_running_loop().time() < deadline, fleet.logs()
            await asyncio.sleep(0.01)
        victim.process.kill()
        victim.process.wait()
        await asyncio.wait_for(storm, 120)
        total = per_sender * len(senders)
        acked = {cid: seq for s in senders for cid, seq in s.acks.items()}
        assert len(acked) == total
        assert sorted(acked.values()) == list(range(1, total + 1))
        for client in clients:
            await client.wait_for_seq(total, timeout=60)
            assert [m["seq"] for m in client.messages] == list(range(1, total + 1))
            # Texts are unique per client_id: each acked message is there once, at its seq.
            by_text = {m["text"]: m["seq"] for m in client.messages}
            assert by_text == {_storm_text(cid): seq for cid, seq in acked.items()}
        assert any(client.reconnects for client in clients)
        assert _live(fleet.chat) == fleet.chat[1:]
        assert await _stored_last_seq(http, room, tokens[0]) == total
    finally:
        await asyncio.gather(*(client.close() for client in clients))


def _storm_text(client_id: str) -> str:
    return f"storm message {client_id}"


async def _send_many(client: RoomClient, count: int) -> None:
    for i in range(count):
        client_id = f"{client.name}-storm-{i}"
        await client.send(_storm_text(client_id), client_id)
