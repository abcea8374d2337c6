"""`confab thumbs`: check the parsed flags, render every source, report.

The flags and the exit codes are described in `parser` (what `--help` shows).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rich.console import Console

from confab.core.errors import ConfabError, InvalidInput
from confab.core.settings import Settings
from confab.media.batch.flags import RenderFlags, build_options
from confab.media.batch.parser import JSON_TO_STDOUT
from confab.media.batch.pipeline import BatchConfig, BatchPipeline, SourceResult
from confab.media.batch.progress import ProgressDisplay, make_progress
from confab.media.batch.report import json_report, plain_summary, print_rich_summary, summarize
from confab.media.batch.runtime import RuntimeFactory
from confab.media.batch.sources import (
    IMAGE_EXTENSIONS,
    Source,
    expand_sources,
    is_url,
    read_source_list,
)
from confab.media.domain.options import RenderOptions

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass(frozen=True, slots=True)
class ThumbsPlan:
    """A validated invocation: what to do and with which settings."""

    sources: list[Source]
    options: RenderOptions
    out_dir: Path
    settings: Settings
    processes: int
    json_target: str | None


def _check_json_target(target: str | None) -> None:
    if target is None or target == JSON_TO_STDOUT:
        return
    path = Path(target)
    # `--json photo.jpg` is almost surely a source swallowed by the optional FILE:
    # refuse rather than overwrite an image with a report.
    if is_url(target) or path.suffix.lower() in IMAGE_EXTENSIONS or path.is_dir():
        raise InvalidInput(
            f"--json {target}: that looks like a source, not a report file; "
            "write --json=FILE, or put --json after the sources",
            code="bad_json_target",
        )
    if not path.parent.is_dir():
        raise InvalidInput(f"--json {target}: no folder {path.parent}", code="bad_json_target")


def plan_thumbs(args: argparse.Namespace, stdin: TextIO) -> ThumbsPlan:
    """Validate the arguments; raises InvalidInput (a usage error) with a clear message."""
    raw = list(args.sources)
    if args.input is not None:
        raw += read_source_list(args.input, stdin)
    _check_json_target(args.json)
    out_dir: Path = args.out
    sources = expand_sources(raw, exclude=out_dir)
    if not sources:
        raise InvalidInput(
            "no sources: give URLs, image files or folders, or -i FILE", code="no_sources"
        )
    try:
        settings = Settings()
    except ValueError as exc:  # pydantic's ValidationError: a bad CONFAB_* variable
        raise InvalidInput(f"invalid setting: {exc}", code="bad_setting") from None
    update: dict[str, object] = {}
    if args.concurrency is not None:
        update["media_fetch_concurrency"] = args.concurrency
    if args.per_host is not None:
        update["media_fetch_per_host"] = args.per_host
    if args.rate is not None:
        update["media_fetch_per_host_rate"] = args.rate
    if args.processes is not None:
        update["media_render_processes"] = args.processes
    if getattr(args, "jobs_url", None) is not None:
        update["jobs_url"] = args.jobs_url
    if args.allow_network:
        update["media_allow_networks"] = [*settings.media_allow_networks, *args.allow_network]
    if getattr(args, "allow_port", None):
        update["media_allow_ports"] = [*settings.media_allow_ports, *args.allow_port]
    settings = settings.model_copy(update=update)
    width, height = args.size
    options = build_options(
        RenderFlags(
            width=width,
            height=height,
            fit_in=args.fit_in,
            smart=args.smart,
            format=args.format,
            quality=args.quality,
        )
    )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(
            f"cannot create the output folder {out_dir}: {exc.strerror}", code="bad_out_dir"
        ) from None
    return ThumbsPlan(sources, options, out_dir, settings, settings.render_processes(), args.json)


async def _execute(
    plan: ThumbsPlan, build_runtime: RuntimeFactory, display: ProgressDisplay
) -> list[SourceResult]:
    runtime = build_runtime(plan.settings)
    try:
        config = BatchConfig(
            out_dir=plan.out_dir,
            options=plan.options,
            limits=runtime.limits,
            render_timeout=runtime.render_timeout,
            fetchers=plan.settings.media_fetch_concurrency,
            # Twice the processes: a worker never idles while a result travels back.
            renderers=2 * plan.processes,
            queue_size=2 * plan.processes,
            per_host=plan.settings.media_fetch_per_host,
            rate_per_minute=plan.settings.media_fetch_per_host_rate,
        )
        pipeline = BatchPipeline(
            config, jobs=runtime.jobs, fetcher=runtime.fetcher, on_result=display.finished
        )
        display.start(len(plan.sources))
        try:
            return await pipeline.run(plan.sources)
        finally:
            display.stop()
    finally:
        await runtime.aclose()


def _write_report(target: str, report: bytes, stdout: TextIO) -> None:
    if target == JSON_TO_STDOUT:
        stdout.write(report.decode())
        stdout.flush()
        return
    path = Path(target)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(report)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def run_thumbs(
    args: argparse.Namespace,
    build_runtime: RuntimeFactory,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run `confab thumbs` with parsed `args`; return the exit code."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        plan = plan_thumbs(args, stdin)
    except InvalidInput as exc:
        print(f"confab thumbs: error: {exc.detail}", file=stderr)
        return EXIT_USAGE
    # With the report on stdout, everything for humans goes to stderr.
    human = stderr if plan.json_target == JSON_TO_STDOUT else stdout
    # The stream itself decides, not FORCE_COLOR: a live bar in a CI log is noise.
    console = Console(file=human, force_terminal=_is_terminal(human))
    display = make_progress(console, human)
    started = time.perf_counter()
    try:
        with asyncio.Runner() as runner:
            results = runner.run(_execute(plan, build_runtime, display))
    except ConfabError as exc:
        # Raised while starting up (a bad CONFAB_* policy, say): each source's own failure
        # never gets here, the pipeline reports it.
        print(f"confab thumbs: error: {exc}", file=stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "confab thumbs: interrupted; finished thumbnails are kept, no partial file left",
            file=stderr,
        )
        return EXIT_INTERRUPTED
    summary = summarize(results, time.perf_counter() - started)
    if console.is_terminal:
        print_rich_summary(console, summary, results)
    else:
        print(plain_summary(summary, results), file=human, flush=True)
    if plan.json_target is not None:
        report = json_report(summary, results, options=plan.options, out_dir=str(plan.out_dir))
        try:
            _write_report(plan.json_target, report, stdout)
        except OSError as exc:
            print(
                f"confab thumbs: cannot write the report {plan.json_target}: {exc.strerror}",
                file=stderr,
            )
            return EXIT_FAILED
    return EXIT_OK if summary.succeeded else EXIT_FAILED
