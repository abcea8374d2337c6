"""Single-flight across the HTTP processes of a node: lock files per key in the data dir.

Two ThumbnailService instances stand for two processes (each has its own in-process
flight and memory cache); they share the blob store and the lock folder, as the
processes of one node do. The lock itself is also checked against a real second process.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from confab.adapters.blobs_fs import FileBlobStore
from confab.adapters.locks_file import FileKeyLocks
from confab.core.metrics import Metrics
from confab.media.domain.options import Rendered
from confab.media.domain.signing import sign
from confab.media.imaging.limits import RenderLimits
from confab.media.ports import FetchedSource
from confab.media.services.thumbnails import ThumbnailConfig, ThumbnailService

KEY = "locks-test-key"
PATH = "fit-in/300x200/upload/" + "cd" * 32


class SlowRenders:
    """A job queue whose renders take a while, counted."""

    def __init__(self) -> None:
        self.renders = 0

    async def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        self.renders += 1
        await asyncio.sleep(0.2)
        return Rendered(data=b"pixels", format="png", width=3, height=2)

    async def close(self) -> None:
        return None


class NoFetcher:
    async def fetch(self, url: str, *, want: str = "image") -> FetchedSource:
        raise AssertionError("uploads are not fetched")


def process_like(folder: Path, jobs: SlowRenders) -> ThumbnailService:
    config = ThumbnailConfig(
        security_key=KEY,
        allow_unsafe=False,
        auto_format=False,
        result_cache=True,
        render_timeout=5.0,
        limits=RenderLimits(),
    )
    blobs = FileBlobStore(folder / "blobs")
    (folder / "blobs" / "uploads").mkdir(parents=True, exist_ok=True)
    return ThumbnailService(
        config,
        blobs=blobs,
        jobs=jobs,
        fetcher=NoFetcher(),
        metrics=Metrics(),
        locks=FileKeyLocks(folder / "locks"),
    )


async def test_two_processes_render_a_key_once(tmp_path: Path, monkeypatch: Any) -> None:
    jobs = SlowRenders()
    one, two = process_like(tmp_path, jobs), process_like(tmp_path, jobs)

    async def no_source(self: ThumbnailService, source: str) -> str:
        return "unused"

    monkeypatch.setattr(ThumbnailService, "_source", no_source)
    signed = f"{sign(KEY, PATH)}/{PATH}"
    results = await asyncio.gather(
        *(service.produce(service.plan(signed, None)) for service in (one, two, one, two))
    )
    assert jobs.renders == 1
    assert {result.data for result in results} == {b"pixels"}
    # The process that waited on the lock read the other's result from the cache.
    assert any(result.cache_hit for result in results)
    assert os.listdir(tmp_path / "locks") == []  # no lock file left behind


HOLDER = """
import asyncio, sys
from pathlib import Path
from confab.adapters.locks_file import FileKeyLocks

async def main():
    async with FileKeyLocks(Path(sys.argv[1])).hold("shared-key"):
        print("held", flush=True)
        sys.stdin.readline()  # until the test says "release"

asyncio.run(main())
"""


async def test_a_lock_held_by_another_process_is_waited_for(tmp_path: Path) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(tmp_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdin is not None and holder.stdout is not None
        assert (await holder.stdout.readline()).strip() == b"held"
        locks = FileKeyLocks(tmp_path)
        acquired = asyncio.Event()

        async def take() -> None:
            async with locks.hold("shared-key"):
                acquired.set()

        waiter = asyncio.create_task(take())
        for _ in range(20):  # many poll rounds of the waiter: it must not get in
            await asyncio.sleep(0.01)
            assert not acquired.is_set()
        holder.stdin.write(b"release\n")
        await holder.stdin.drain()
        await asyncio.wait_for(waiter, 10)
        assert acquired.is_set()
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()
    assert os.listdir(tmp_path) == []


async def test_different_keys_do_not_wait_for_each_other(tmp_path: Path) -> None:
    locks = FileKeyLocks(tmp_path)
    async with locks.hold("a"), asyncio.timeout(1.0), locks.hold("b"):
        pass
    assert os.listdir(tmp_path) == []
