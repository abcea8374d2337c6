"""Summary, JSON report and progress displays of `confab thumbs`."""

from __future__ import annotations

import io

from rich.console import Console

from confab.core import jsoncodec
from confab.media.batch.pipeline import SourceResult
from confab.media.batch.progress import PlainProgress, RichProgress, make_progress
from confab.media.batch.report import json_report, plain_summary, print_rich_summary, summarize
from confab.media.domain.options import RenderOptions

RESULTS = [
    SourceResult("a.jpg", "ok", "out/a-1.jpg", bytes=1200, width=32, height=24, duration=0.05),
    SourceResult("b.jpg", "skipped", "out/b-2.jpg", reason="exists", bytes=900),
    SourceResult("http://x/c.jpg", "failed", reason="source_forbidden", detail="loopback"),
]


def test_summary_counts_and_rate() -> None:
    summary = summarize(RESULTS, elapsed=0.5)
    assert (summary.total, summary.ok, summary.failed, summary.skipped) == (3, 1, 1, 1)
    assert summary.rate == 2.0 and not summary.succeeded
    assert summarize(RESULTS[:2], elapsed=0).succeeded  # skipped counts as success
    text = plain_summary(summary, RESULTS)
    assert text.startswith("3 sources: 1 ok, 1 failed, 1 skipped in 0.50s (2.0 thumbnails/s)")
    assert "failed http://x/c.jpg: source_forbidden: loopback" in text


def test_rich_summary_lists_each_failure_with_its_reason() -> None:
    console = Console(record=True, width=120, force_terminal=True)
    print_rich_summary(console, summarize(RESULTS, elapsed=0.5), RESULTS)
    text = console.export_text()
    assert "thumbnails/s" in text and "source_forbidden" in text and "http://x/c.jpg" in text


def test_json_report_has_every_source() -> None:
    options = RenderOptions(width=32, height=24, format="webp")
    report = jsoncodec.loads(
        json_report(summarize(RESULTS, 0.5), RESULTS, options=options, out_dir="out")
    )
    assert report["summary"]["thumbnails_per_second"] == 2.0
    assert report["options"]["format"] == "webp"
    assert [s["status"] for s in report["sources"]] == ["ok", "skipped", "failed"]
    first = report["sources"][0]
    assert (first["output"], first["bytes"], first["duration"]) == ("out/a-1.jpg", 1200, 0.05)
    assert report["sources"][2]["reason"] == "source_forbidden"


def test_plain_progress_prints_one_numbered_line_per_source() -> None:
    stream = io.StringIO()
    display = make_progress(Console(file=stream, force_terminal=False), stream)
    assert isinstance(display, PlainProgress)
    display.start(len(RESULTS))
    for result in RESULTS:
        display.finished(result)
    display.stop()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[1/3] ok      a.jpg -> out/a-1.jpg (32x24, 1200 B, 50 ms)")
    assert lines[1].startswith("[2/3] skipped b.jpg")
    assert lines[2] == "[3/3] failed  http://x/c.jpg: source_forbidden: loopback"


def test_rich_progress_on_a_terminal() -> None:
    console = Console(record=True, width=150, force_terminal=True)
    display = make_progress(console, io.StringIO())
    assert isinstance(display, RichProgress)
    display.start(len(RESULTS))
    for result in RESULTS:
        display.finished(result)
    display.stop()
    text = console.export_text()
    assert "3/3" in text and "1 failed" in text and "1 skipped" in text
    assert "source_forbidden" in text  # failures are printed above the bar
