"""The batch engine with in-process fakes: order, skips, reasons, backpressure, atomicity."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from confab.core.clock import ManualClock
from confab.core.errors import Forbidden, Unprocessable
from confab.media.batch.pipeline import BatchConfig, BatchPipeline, SourceResult, write_atomic
from confab.media.batch.sources import Source
from confab.media.domain.options import Rendered, RenderOptions


@dataclass(frozen=True)
class FakeFetched:
    url: str
    data: bytes


class FakeFetcher:
    """Serves `data:<text>` URLs; `forbidden` hosts are refused like the SafeFetcher does."""

    def __init__(self) -> None:
        self.calls = 0

    async def fetch(self, url: str, *, want: str = "image") -> FakeFetched:
        self.calls += 1
        if "forbidden" in url:
            raise Forbidden("address 127.0.0.1 is loopback", code="source_forbidden")
        return FakeFetched(url, url.encode())


class FakeJobs:
    """Renders a payload into `RENDERED:<payload>`; `corrupt` payloads fail, `bug` ones crash."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.calls: list[tuple[Any, ...]] = []

    async def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        self.calls.append((task, *args))
        if self.gate is not None:
            await self.gate.wait()
        payload = args[0]
        text = payload if isinstance(payload, str) else payload.decode()
        if "corrupt" in text:
            raise Unprocessable("not a decodable image", code="corrupt_image")
        if "bug" in text:
            raise RuntimeError("boom")
        return Rendered(data=f"RENDERED:{text}".encode(), format="png", width=32, height=24)

    async def close(self) -> None:
        pass


def config(out: Path, **overrides: Any) -> BatchConfig:
    values: dict[str, Any] = {
        "out_dir": out,
        "options": RenderOptions(width=32, height=24),
        "limits": None,
        "render_timeout": 5.0,
        "fetchers": 2,
        "renderers": 2,
        "queue_size": 2,
    }
    values.update(overrides)
    return BatchConfig(**values)


def file_facts(path: Path) -> tuple[bytes, int]:
    """Content and size of a written output (sync: test helpers may block)."""
    return path.read_bytes(), path.stat().st_size


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def urls(*names: str) -> list[Source]:
    return [Source("url", f"https://h.example/{n}", n) for n in names]


async def test_results_in_order_outputs_written_then_skipped(tmp_path: Path) -> None:
    seen: list[SourceResult] = []
    sources = urls(*(f"{i}.jpg" for i in range(7)))
    pipeline = BatchPipeline(
        config(tmp_path), jobs=FakeJobs(), fetcher=FakeFetcher(), on_result=seen.append
    )
    results = await pipeline.run(sources)
    assert [r.source for r in results] == [s.display for s in sources]
    assert {r.status for r in results} == {"ok"}
    assert len(seen) == 7
    for result in results:
        assert result.output is not None
        written = Path(result.output)
        content, size = file_facts(written)
        assert written.parent == tmp_path and written.suffix == ".png"
        assert content == f"RENDERED:https://h.example/{result.source}".encode()
        assert result.bytes == size and (result.width, result.height) == (32, 24)

    jobs, fetcher = FakeJobs(), FakeFetcher()
    again = await BatchPipeline(config(tmp_path), jobs=jobs, fetcher=fetcher).run(sources)
    assert [r.status for r in again] == ["skipped"] * 7
    assert [r.output for r in again] == [r.output for r in results]
    assert jobs.calls == [] and fetcher.calls == 0  # a rerun neither fetches nor renders


async def test_each_failure_keeps_its_reason_and_the_batch_goes_on(tmp_path: Path) -> None:
    sources = [
        *urls("good.jpg", "forbidden.jpg", "corrupt.jpg", "bug.jpg"),
        Source("file", str(tmp_path / "missing.jpg"), "missing.jpg"),
        Source("url", "http://[::1/a.jpg", "unclosed"),
    ]
    pipeline = BatchPipeline(config(tmp_path), jobs=FakeJobs(), fetcher=FakeFetcher())
    results = await pipeline.run(sources)
    by_source = {r.source: r for r in results}
    assert by_source["good.jpg"].status == "ok"
    assert by_source["forbidden.jpg"].reason == "source_forbidden"
    assert by_source["corrupt.jpg"].reason == "corrupt_image"
    assert by_source["bug.jpg"].reason == "internal_error"
    assert by_source["missing.jpg"].reason == "source_not_found"
    assert by_source["unclosed"].reason == "bad_source_url"
    assert all(r.status == "failed" for s, r in by_source.items() if s != "good.jpg")
    assert all(r.detail for r in results if r.status == "failed")


async def test_local_files_go_to_the_worker_as_paths(tmp_path: Path) -> None:
    image = tmp_path / "pic.jpg"
    image.write_bytes(b"\xff\xd8 not really")
    out = tmp_path / "out"
    out.mkdir()
    jobs = FakeJobs()
    options = RenderOptions(width=10, height=10, format="webp")
    cfg = config(out, options=options, limits="LIMITS", render_timeout=7.0)
    [result] = await BatchPipeline(cfg, jobs=jobs, fetcher=FakeFetcher()).run(
        [Source("file", str(image), "pic.jpg")]
    )
    assert result.status == "ok" and result.source_bytes == image.stat().st_size
    assert jobs.calls == [("media.render", str(image), options, (), "LIMITS")]


async def _spin_until(condition: Any, rounds: int = 2000) -> None:
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


async def test_fetchers_wait_when_renderers_are_behind(tmp_path: Path) -> None:
    gate = asyncio.Event()
    fetcher = FakeFetcher()
    cfg = config(tmp_path, fetchers=3, renderers=1, queue_size=2)
    pipeline = BatchPipeline(cfg, jobs=FakeJobs(gate), fetcher=fetcher)
    run = asyncio.create_task(pipeline.run(urls(*(f"{i}.jpg" for i in range(20)))))
    # One item in the (blocked) renderer, two in the queue, one held by each fetcher.
    bound = 1 + 2 + 3
    await _spin_until(lambda: fetcher.calls >= bound)
    for _ in range(200):
        await asyncio.sleep(0)
    assert fetcher.calls == bound
    gate.set()
    results = await run
    assert fetcher.calls == 20 and all(r.status == "ok" for r in results)


async def test_cancelled_run_leaves_only_whole_files(tmp_path: Path) -> None:
    gate = asyncio.Event()
    jobs = FakeJobs(gate)
    pipeline = BatchPipeline(config(tmp_path), jobs=jobs, fetcher=FakeFetcher())
    run = asyncio.create_task(pipeline.run(urls(*(f"{i}.jpg" for i in range(10)))))
    await _spin_until(lambda: len(jobs.calls) >= 2)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert names_in(tmp_path) == []


def test_write_atomic_leaves_no_temporary_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.jpg"
    write_atomic(target, b"whole")
    assert target.read_bytes() == b"whole"

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        write_atomic(tmp_path / "b.jpg", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


class TimedFetcher(FakeFetcher):
    """Records when each fetch starts (on `clock`) and how many run at once per host."""

    def __init__(self, hold: int = 0, clock: ManualClock | None = None) -> None:
        super().__init__()
        self.hold = hold  # turns of the event loop each fetch lasts
        self.clock = clock or ManualClock()
        self.starts: list[tuple[str, float]] = []
        self.running: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    async def fetch(self, url: str, *, want: str = "image") -> FakeFetched:
        host = url.split("/")[2]
        self.starts.append((host, self.clock.now()))
        self.running[host] = self.running.get(host, 0) + 1
        self.peak[host] = max(self.peak.get(host, 0), self.running[host])
        try:
            for _ in range(self.hold):
                await asyncio.sleep(0)
            return await super().fetch(url, want=want)
        finally:
            self.running[host] -= 1


async def test_per_host_concurrency_is_capped(tmp_path: Path) -> None:
    fetcher = TimedFetcher(hold=10)
    sources = [
        Source("url", f"https://{h}.example/{i}.jpg", f"{h}{i}") for h in "ab" for i in range(6)
    ]
    cfg = config(tmp_path, fetchers=8, per_host=2, queue_size=20)
    results = await BatchPipeline(cfg, jobs=FakeJobs(), fetcher=fetcher).run(sources)
    assert all(r.status == "ok" for r in results)
    assert fetcher.peak == {"a.example": 2, "b.example": 2}


async def test_per_host_rate_paces_starts_without_failing(tmp_path: Path) -> None:
    clock = ManualClock()
    fetcher = TimedFetcher(clock=clock)
    sources = [*urls("1.jpg", "2.jpg", "3.jpg"), Source("url", "https://other.example/x.jpg", "x")]
    cfg = config(tmp_path, fetchers=4, rate_per_minute=1200)  # one start per 50 ms and host
    pipeline = BatchPipeline(cfg, jobs=FakeJobs(), fetcher=fetcher, clock=clock)
    run = asyncio.create_task(pipeline.run(sources))
    await clock.advance(0.04)
    # At once: the first of h.example and the one of other.example, which does not wait.
    assert sorted(fetcher.starts) == [("h.example", 0.0), ("other.example", 0.0)]
    await clock.advance(0.1)
    results = await run
    assert all(r.status == "ok" for r in results)
    same_host = [at for host, at in fetcher.starts if host == "h.example"]
    assert same_host == pytest.approx([0.0, 0.05, 0.10])  # one start per 50 ms
