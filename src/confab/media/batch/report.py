"""The end of a batch: the summary (a table on a terminal, text otherwise) and the JSON report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from confab.core import jsoncodec
from confab.media.batch.pipeline import SourceResult
from confab.media.domain.options import RenderOptions


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts and speed of one batch. Skipped (done before) counts as success."""

    total: int
    ok: int
    failed: int
    skipped: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Thumbnails rendered per second of wall time."""
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def succeeded(self) -> bool:
        """Whether every source has its output (rendered now or before)."""
        return self.failed == 0


def summarize(results: Sequence[SourceResult], elapsed: float) -> Summary:
    """Count the results of a batch that took `elapsed` seconds."""
    return Summary(
        total=len(results),
        ok=sum(r.status == "ok" for r in results),
        failed=sum(r.status == "failed" for r in results),
        skipped=sum(r.status == "skipped" for r in results),
        elapsed=elapsed,
    )


def _failures(results: Sequence[SourceResult]) -> list[SourceResult]:
    return [r for r in results if r.status == "failed"]


def plain_summary(summary: Summary, results: Sequence[SourceResult]) -> str:
    """The summary as plain text lines (for pipes and logs)."""
    lines = [
        f"{summary.total} sources: {summary.ok} ok, {summary.failed} failed, "
        f"{summary.skipped} skipped in {summary.elapsed:.2f}s ({summary.rate:.1f} thumbnails/s)"
    ]
    for failure in _failures(results):
        lines.append(f"  failed {failure.source}: {failure.reason}: {failure.detail}")
    return "\n".join(lines)


def print_rich_summary(console: Console, summary: Summary, results: Sequence[SourceResult]) -> None:
    """The summary as rich tables: the counts, then each failure with its reason code."""
    counts = Table(title="confab thumbs", show_header=True)
    for column in ("ok", "failed", "skipped", "elapsed", "thumbnails/s"):
        counts.add_column(column, justify="right")
    counts.add_row(
        f"[green]{summary.ok}",
        f"[red]{summary.failed}" if summary.failed else "0",
        str(summary.skipped),
        f"{summary.elapsed:.2f}s",
        f"{summary.rate:.1f}",
    )
    console.print(counts)
    failures = _failures(results)
    if failures:
        table = Table(title="failures", show_header=True)
        table.add_column("source", overflow="fold")
        table.add_column("reason", style="red")
        table.add_column("detail", overflow="fold")
        for failure in failures:
            table.add_row(failure.source, failure.reason or "", failure.detail or "")
        console.print(table)


def json_report(
    summary: Summary,
    results: Sequence[SourceResult],
    *,
    options: RenderOptions,
    out_dir: str,
) -> bytes:
    """The machine-readable report: the counts, the options, and every source's outcome."""
    report: dict[str, Any] = {
        "summary": {
            "total": summary.total,
            "ok": summary.ok,
            "failed": summary.failed,
            "skipped": summary.skipped,
            "elapsed": round(summary.elapsed, 4),
            "thumbnails_per_second": round(summary.rate, 2),
        },
        "out_dir": out_dir,
        "options": asdict(options),
        "sources": [
            {**asdict(result), "duration": round(result.duration, 4)} for result in results
        ],
    }
    return jsoncodec.dumps(report) + b"\n"
