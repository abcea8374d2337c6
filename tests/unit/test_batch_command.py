"""`confab thumbs` as a command: usage errors, exit codes, output streams, the JSON report."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from confab.cli import build_parser, main
from confab.core import jsoncodec
from confab.core.errors import InvalidInput
from confab.core.settings import Settings
from confab.media.batch.command import run_thumbs
from confab.media.batch.runtime import BatchRuntime
from tests.unit.test_batch_pipeline import FakeFetcher, FakeJobs


class Streams:
    def __init__(self, stdin: str = "") -> None:
        self.stdin = io.StringIO(stdin)
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()


def fake_runtime() -> BatchRuntime:
    return BatchRuntime(jobs=FakeJobs(), fetcher=FakeFetcher(), limits=None, render_timeout=5.0)  # type: ignore[arg-type]


def never_built(settings: Settings) -> BatchRuntime:
    raise AssertionError("a usage error must not start the pool")


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["thumbs", *argv])


def run(argv: list[str], streams: Streams, factory: object = never_built) -> int:
    return run_thumbs(
        parse(*argv),
        factory,  # type: ignore[arg-type]
        stdin=streams.stdin,
        stdout=streams.stdout,
        stderr=streams.stderr,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["a.jpg", "-o", "out"],  # no --size
        ["a.jpg", "-o", "out", "--size", "big"],
        ["a.jpg", "-o", "out", "--size", "0x0"],
        ["a.jpg", "-o", "out", "--size", "10x10", "--rate", "fast"],
        ["a.jpg", "-o", "out", "--size", "10x10", "--processes", "0"],
        ["a.jpg", "-o", "out", "--size", "10x10", "--quality", "101"],
        ["a.jpg", "-o", "out", "--size", "10x10", "--allow-network", "lan"],
        ["a.jpg", "-o", "out", "--size", "10x10", "--allow-port", "http"],
        ["a.jpg", "-o", "out", "--size", "10x10", "--fit-in", "--smart"],
        ["a.jpg", "-o", "out", "--size", "10x10", "--format", "bmp"],
    ],
)
def test_bad_flags_exit_2_with_a_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["thumbs", *argv])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_no_sources_is_a_usage_error(tmp_path: Path) -> None:
    streams = Streams()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run([str(empty), "-o", str(tmp_path / "out"), "--size", "10x10"], streams) == 2
    assert "no sources" in streams.stderr.getvalue()
    streams = Streams(stdin="# nothing here\n\n")
    assert run(["-i", "-", "-o", str(tmp_path / "out"), "--size", "10x10"], streams) == 2


def test_unreadable_list_is_a_usage_error(tmp_path: Path) -> None:
    streams = Streams()
    argv = ["-i", str(tmp_path / "nope.txt"), "-o", str(tmp_path), "--size", "10x10"]
    assert run(argv, streams) == 2
    assert "cannot read the source list" in streams.stderr.getvalue()


def test_json_target_that_looks_like_a_source_is_refused(tmp_path: Path) -> None:
    streams = Streams()
    argv = ["-o", str(tmp_path), "--size", "10x10", "--json", "photo.jpg"]
    assert run(argv, streams) == 2
    assert "looks like a source" in streams.stderr.getvalue()


def test_all_ok_exit_0_then_rerun_skips(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["https://h.example/a.jpg", "https://h.example/b.jpg", "-o", str(out), "--size", "8x8"]
    streams = Streams()
    assert run(argv, streams, lambda s: fake_runtime()) == 0
    lines = streams.stdout.getvalue().splitlines()
    assert sum(line.startswith("[") and " ok " in line for line in lines) == 2
    assert "2 sources: 2 ok, 0 failed, 0 skipped" in streams.stdout.getvalue()
    assert len(list(out.iterdir())) == 2

    streams = Streams()
    assert run(argv, streams, lambda s: fake_runtime()) == 0
    assert "0 ok, 0 failed, 2 skipped" in streams.stdout.getvalue()


def test_some_failed_exit_1_and_the_json_report_on_stdout(tmp_path: Path) -> None:
    listing = "https://h.example/good.jpg\n# skip me\nhttps://forbidden.example/x.jpg\n"
    streams = Streams(stdin=listing)
    argv = ["-i", "-", "-o", str(tmp_path), "--size", "8x8", "--format", "webp", "--json"]
    assert run(argv, streams, lambda s: fake_runtime()) == 1
    report = jsoncodec.loads(streams.stdout.getvalue())  # stdout holds the report only
    assert report["summary"]["ok"] == 1 and report["summary"]["failed"] == 1
    assert report["options"]["format"] == "webp" and report["options"]["width"] == 8
    good, bad = report["sources"]
    assert good["status"] == "ok" and Path(good["output"]).is_file()
    assert bad["status"] == "failed" and bad["reason"] == "source_forbidden"
    assert {"bytes", "duration", "output", "reason"} <= set(good)
    human = streams.stderr.getvalue()
    assert "failed  https://forbidden.example/x.jpg: source_forbidden" in human


def test_flags_reach_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFAB_MEDIA_ALLOW_NETWORKS", "10.0.0.0/8")
    seen: list[Settings] = []

    def factory(settings: Settings) -> BatchRuntime:
        seen.append(settings)
        return fake_runtime()

    argv = [
        "https://h.example/a.jpg",
        "-o",
        str(tmp_path),
        "--size",
        "8x8",
        "--concurrency",
        "3",
        "--per-host",
        "2",
        "--rate",
        "2/s",
        "--processes",
        "2",
        "--allow-network",
        "127.0.0.1",
        "--allow-port",
        "8080",
        "--allow-port",
        "9000-9100",
        "--json",
        str(tmp_path / "report.json"),
    ]
    assert run(argv, Streams(), factory) == 0
    [settings] = seen
    assert settings.media_fetch_concurrency == 3
    assert settings.media_fetch_per_host == 2
    assert settings.media_fetch_per_host_rate == 120.0
    assert settings.render_processes() == 2
    assert settings.media_allow_networks == ["10.0.0.0/8", "127.0.0.1/32"]
    assert settings.media_allow_ports == ["8080", "9000-9100"]
    assert jsoncodec.loads((tmp_path / "report.json").read_bytes())["summary"]["ok"] == 1


def test_a_bad_policy_at_start_up_is_a_clean_error(tmp_path: Path) -> None:
    def factory(settings: Settings) -> BatchRuntime:
        raise InvalidInput("bad network 'x' in CONFAB_MEDIA_ALLOW_NETWORKS", code="bad_policy")

    streams = Streams()
    argv = ["https://h.example/a.jpg", "-o", str(tmp_path), "--size", "8x8"]
    assert run(argv, streams, factory) == 2
    assert "bad_policy" in streams.stderr.getvalue()
