"""Pure helpers of the media benchmark: the Zipf mix, percentiles, figures and verdicts."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from bench.media import report, workload, wrkload
from bench.media.equivalence import sniff


def test_zipf_sequence_is_reproducible_and_skewed() -> None:
    first = workload.zipf_sequence(100, 20_000, s=1.1, seed=7)
    assert first == workload.zipf_sequence(100, 20_000, s=1.1, seed=7)
    assert first != workload.zipf_sequence(100, 20_000, s=1.1, seed=8)
    counts = Counter(first)
    assert set(counts) <= set(range(100))
    top = counts.most_common(1)[0][1]
    # Rank 1 of 100 at s=1.1 draws about 1/H(100, 1.1) ~ 23% of the requests.
    assert 0.18 < top / len(first) < 0.28
    # The hottest id is not simply id 0: ranks are a seeded shuffle.
    assert len({workload.zipf_sequence(100, 200, seed=seed)[0] for seed in range(10)}) > 1


def test_zipf_sequence_rejects_empty_catalogue() -> None:
    with pytest.raises(ValueError):
        workload.zipf_sequence(0, 10)


def test_pairs_cover_every_option_and_source() -> None:
    catalogue = workload.pairs(["a", "b"], ("x", "y", "z"))
    assert len(catalogue) == 6
    assert catalogue[0] == ("x", "a") and catalogue[-1] == ("z", "b")


def test_cached_scenario_is_twenty_images_by_five_sizes() -> None:
    assert len(workload.CACHED.options) == 5
    assert set(workload.CACHED.kinds) == {"jpeg12", "jpeg2"}


def test_percentile_interpolates() -> None:
    assert report.percentile([1, 2, 3, 4], 50) == 2.5
    assert report.percentile([5], 99) == 5
    assert report.percentile(list(range(101)), 99) == 99
    assert math.isnan(report.percentile([], 50))


def _load(records: list[list[float]], elapsed: float = 2.0) -> dict[str, object]:
    return {"records": records, "elapsed": elapsed, "client_cpu_seconds": 0.2, "first_done": {}}


def test_summarize_counts_errors_cpu_and_header_hits() -> None:
    records = [
        [0.0, 0.010, 200, 1000, 0, 0],
        [0.1, 0.002, 200, 1000, 0, 1],
        [0.2, 0.001, 200, 1000, 0, 1],
        [0.3, 0.050, 500, 10, 1, 0],
    ]
    figures = report.summarize(_load(records), cpu_seconds=0.3, peak_rss=100, peak_pss=80)
    assert figures["ok"] == 3 and figures["errors"] == 1
    assert figures["rps"] == pytest.approx(1.5)
    assert figures["cpu_ms"] == pytest.approx(100.0)
    assert figures["hit_source"] == 1.0
    assert figures["hit_ratio"] == pytest.approx(100 * 2 / 3)
    assert figures["hit_p99_ms"] == pytest.approx(1.99, abs=0.01)
    assert figures["client_cpu_pct"] == pytest.approx(10.0)


def test_hits_are_estimated_from_repeated_urls_without_a_header() -> None:
    records = [[0.0, 0.1, 200, 9, 0, -1], [0.05, 0.1, 200, 9, 0, -1], [0.5, 0.003, 200, 9, 0, -1]]
    load = _load(records)
    load["first_done"] = {"0": 0.1}
    figures = report.summarize(load, cpu_seconds=0.1, peak_rss=1, peak_pss=1)
    assert figures["hit_source"] == 0.0
    assert figures["hit_ratio"] == pytest.approx(100 / 3)
    assert figures["hit_p50_ms"] == pytest.approx(3.0)


def test_medians_and_verdicts() -> None:
    def run(confab_rps: float) -> dict[str, dict[str, dict[str, float]]]:
        return {
            "jpeg_to_jpeg": {
                "confab": {"rps": confab_rps, "p99_ms": 90.0},
                "thumbor": {"rps": 50.0, "p99_ms": 100.0},
            }
        }

    final = report.medians([run(60), run(70), run(100)])
    assert final["jpeg_to_jpeg"]["confab"]["rps"] == 70
    by_wording = {(v.scenario, v.wording.split(" (")[0]): v for v in report.verdicts(final)}
    assert by_wording[("jpeg_to_jpeg", "req/s >= 1.3x thumbor")].met is True
    assert by_wording[("jpeg_to_jpeg", "p99 <= thumbor")].met is True
    assert by_wording[("png_to_png", "req/s >= 1.5x thumbor")].met is None
    text = report.table(final, {"jpeg_to_jpeg": "JPEG"})
    assert "JPEG" in text and "1.40" in text


def test_sniff_formats() -> None:
    assert sniff(b"\xff\xd8\xff\xe0rest") == "jpeg"
    assert sniff(b"\x89PNG\r\n\x1a\nrest") == "png"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff(b"GIF89a") == "gif"
    assert sniff(b"nothing") is None


def test_process_tree_figures_include_children() -> None:
    import os
    import subprocess
    import sys

    from bench.media.procstats import MemorySampler, tree_cpu_seconds, tree_pids

    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert child.pid in tree_pids(os.getpid())
        assert tree_cpu_seconds(os.getpid()) > 0
        with MemorySampler(os.getpid(), interval=0.05) as sampler:
            pass
        assert sampler.peak.samples >= 1 and sampler.peak.rss_mib > 1
    finally:
        child.communicate(b"")


def test_wrk_script_follows_the_sequence_and_closes_connections() -> None:
    lua = wrkload.script(["/a", "/b", '/c"q'], [2, 0, 0, 1])
    assert 'wrk.headers["Connection"] = "close"' in lua
    assert 'local paths = {"/a","/b","/c\\"q"}' in lua
    assert "local order = {2,0,0,1}" in lua
    capped = wrkload.script(["/a"], [0] * (wrkload.SEQUENCE_CAP + 5))
    assert capped.count(",0") == wrkload.SEQUENCE_CAP - 1


def test_wrk_figures_come_from_its_json_line() -> None:
    output = (
        "Running 5s test @ http://127.0.0.1:1\n"
        'WRK_JSON {"requests": 1000, "failed": 10, "seconds": 2.0, "p50_ms": 0.5, "p99_ms": 1.5}\n'
    )
    figures = wrkload.parse(output)
    assert figures == {
        "wrk_rps": 495.0,
        "wrk_p50_ms": 0.5,
        "wrk_p99_ms": 1.5,
        "wrk_errors": 10.0,
        "wrk_requests": 1000.0,
        "wrk_seconds": 2.0,
    }
    with pytest.raises(RuntimeError, match="no figures"):
        wrkload.parse("Running 5s test\nsocket errors\n")


def test_thread_cpu_is_split_by_thread_name() -> None:
    import os
    import threading
    import time

    from bench.media.procstats import thread_cpu_seconds

    from tests.polling import wait_until

    done = threading.Event()

    def spin() -> None:
        end = time.thread_time() + 0.2  # this thread's own CPU time
        while time.thread_time() < end:
            pass
        done.wait()

    workers = [threading.Thread(target=spin) for i in range(2)]
    for worker in workers:
        worker.start()
    try:
        # Both spinners' time, summed apart from the main thread's.
        wait_until(
            lambda: sum(thread_cpu_seconds(os.getpid()).get("other threads", (0, 0))) >= 0.35,
            what="the spinners' CPU time",
        )
        assert "main" in thread_cpu_seconds(os.getpid())
        assert thread_cpu_seconds(-1) == {}  # no such process
    finally:
        done.set()
        for worker in workers:
            worker.join()


def test_cpu_is_summed_over_the_processes_of_a_name() -> None:
    import os
    import time

    from bench.media.procstats import named_cpu_seconds

    end = time.process_time() + 0.1
    while time.process_time() < end:
        pass
    name = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    own = os.times()  # this process alone, without its reaped children
    # This process is one of them (/proc counts in ticks of 10 ms).
    assert named_cpu_seconds(name) >= own.user + own.system - 0.02 > 0
    assert named_cpu_seconds("no-such-process-name") == 0.0


async def test_the_floor_answers_held_bodies_and_404_otherwise(tmp_path: Path) -> None:
    import json

    from bench.media.floor_server import load_bodies, make_app

    (tmp_path / "0.bin").write_bytes(b"\xff\xd8jpeg")
    (tmp_path / "manifest.json").write_text(json.dumps({"/media/a": "0.bin"}))
    app = make_app(load_bodies(tmp_path))

    async def get(path: str) -> list[dict[str, object]]:
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, object]) -> None:
            sent.append(dict(message))

        await app({"type": "http", "path": path}, receive, send)
        return sent

    start, body = await get("/media/a")
    assert start["status"] == 200 and body["body"] == b"\xff\xd8jpeg"
    assert (b"content-length", b"6") in start["headers"]  # type: ignore[operator]
    missing, _ = await get("/media/b")
    assert missing["status"] == 404


def test_floor_lines_compare_the_floor_with_both_servers() -> None:
    figures = {
        "zipf_cached": {
            "confab": {"wrk_rps": 9000.0},
            "thumbor": {"wrk_rps": 3000.0},
            "floor": {"wrk_rps": 12000.0, "wrk_server_cpu_us": 80.0, "wrk_client_cpu_us": 45.0},
        }
    }
    lines = report.floor_lines(figures).splitlines()
    assert lines[0] == "  floor: 12000 req/s, server 80 us/req, wrk 45 us/req"
    assert lines[1].startswith("  floor / thumbor = 4.00")
    assert lines[2] == "  confab / floor = 0.75"
    assert report.floor_lines({"zipf_cached": {"confab": {}}}) == ""
