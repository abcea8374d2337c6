"""Progress of a batch: a rich progress bar on a terminal, one plain line per source otherwise."""

from __future__ import annotations

from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from confab.media.batch.pipeline import SourceResult


class ProgressDisplay(Protocol):
    """Receives each finished source; `start`/`stop` bracket the run."""

    def start(self, total: int) -> None:
        """The run begins with `total` sources."""

    def finished(self, result: SourceResult) -> None:
        """One source is done (ok, failed or skipped)."""

    def stop(self) -> None:
        """The run ended (normally or not); release the display."""


def describe(result: SourceResult) -> str:
    """One line about a finished source, for logs and non-terminal output."""
    millis = round(result.duration * 1000)
    if result.status == "ok":
        size = f"{result.width}x{result.height}, " if result.width is not None else ""
        return f"ok      {result.source} -> {result.output} ({size}{result.bytes} B, {millis} ms)"
    if result.status == "skipped":
        return f"skipped {result.source} (done before: {result.output})"
    return f"failed  {result.source}: {result.reason}: {result.detail}"


class PlainProgress:
    """One line per finished source, numbered, flushed at once (pipes and CI logs)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._total = 0
        self._done = 0

    def start(self, total: int) -> None:
        self._total = total
        self._done = 0

    def finished(self, result: SourceResult) -> None:
        self._done += 1
        width = len(str(self._total))
        print(
            f"[{self._done:>{width}}/{self._total}] {describe(result)}",
            file=self._stream,
            flush=True,
        )

    def stop(self) -> None:
        """Nothing to release."""


class _RateColumn(ProgressColumn):
    """Sources finished per second (rich's own estimate over the last seconds)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "-/s", style="progress.data.speed")


class RichProgress:
    """A live progress bar: done/total, failed, rate and ETA. Failures are printed above it."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress = Progress(
            TextColumn("[progress.description]thumbs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[skipped]} skipped"),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: TaskID | None = None
        self._failed = 0
        self._skipped = 0

    def start(self, total: int) -> None:
        self._task = self._progress.add_task("thumbs", total=total, failed=0, skipped=0)
        self._progress.start()

    def finished(self, result: SourceResult) -> None:
        if result.status == "failed":
            self._failed += 1
            # Printed through the progress so the line lands above the live bar.
            self._progress.console.print(Text(describe(result), style="red"))
        elif result.status == "skipped":
            self._skipped += 1
        if self._task is not None:
            self._progress.update(self._task, advance=1, failed=self._failed, skipped=self._skipped)

    def stop(self) -> None:
        self._progress.stop()


def make_progress(console: Console, stream: TextIO) -> ProgressDisplay:
    """A bar when `console` is a terminal, plain lines on `stream` otherwise."""
    if console.is_terminal:
        return RichProgress(console)
    return PlainProgress(stream)
