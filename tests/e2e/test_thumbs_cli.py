"""The real `confab thumbs` command as a subprocess: JSON report, exit codes, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from confab.core import jsoncodec
from tests.integration.batch_support import (
    image_size,
    serve_folder,
    write_image,
)

pytestmark = pytest.mark.e2e


def confab(*argv: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "confab.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def run(*argv: str, timeout: float = 60) -> tuple[int, str, str]:
    process = confab(*argv)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def test_report_on_stdout_exit_codes_and_rerun(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "a.jpg", 160, 120)
    write_image(photos / "b.png", 100, 100)
    out = tmp_path / "thumbs"
    with serve_folder(photos) as base:
        argv = [
            "thumbs",
            str(photos),
            f"{base}/a.jpg",
            str(tmp_path / "missing.jpg"),
            "-o",
            str(out),
            "--size",
            "40x30",
            "--processes",
            "2",
            "--allow-network",
            "127.0.0.1/32",
            "--allow-port",
            "1024-65535",
        ]
        code, stdout, stderr = run(*argv, "--json")
        assert code == 1, stderr
        report = jsoncodec.loads(stdout)  # the report alone on stdout
        assert report["summary"]["total"] == 4
        assert (report["summary"]["ok"], report["summary"]["failed"]) == (3, 1)
        statuses = {e["source"]: (e["status"], e["reason"]) for e in report["sources"]}
        assert statuses[f"{base}/a.jpg"] == ("ok", None)
        assert statuses[str(tmp_path / "missing.jpg")] == ("failed", "source_not_found")
        for entry in report["sources"]:
            if entry["status"] == "ok":
                assert image_size(Path(entry["output"])) == (40, 30)
                assert entry["bytes"] > 0 and entry["duration"] > 0
        assert "source_not_found" in stderr and "Traceback" not in stderr

        # A rerun without the missing file: nothing to do, everything done: exit 0.
        code, stdout, stderr = run(*[a for a in argv if "missing" not in a], "--json")
    assert code == 0, stderr
    again = jsoncodec.loads(stdout)
    assert again["summary"]["skipped"] == 3 and again["summary"]["ok"] == 0


def test_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    code, _, stderr = run("thumbs", "x.jpg", "-o", str(tmp_path), "--size", "wide")
    assert code == 2 and "--size" in stderr and "Traceback" not in stderr
    code, _, stderr = run("thumbs", "-o", str(tmp_path), "--size", "10x10")
    assert code == 2 and "no sources" in stderr and "Traceback" not in stderr


def test_ctrl_c_exits_130_and_leaves_no_partial_file(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    # Many names for one PNG (no shrink-on-load, so each render takes a while).
    first = write_image(photos / "p000.png", 1200, 1000)
    for index in range(1, 300):
        os.link(first, photos / f"p{index:03}.png")
    out = tmp_path / "thumbs"
    # A session of its own: Ctrl-C on a terminal signals the whole process group.
    process = confab(
        "thumbs",
        str(photos),
        "-o",
        str(out),
        "--size",
        "64x64",
        "--processes",
        "2",
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()  # plain progress: one line per finished source
        assert line.startswith("[") and " ok " in line, line
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    outputs = list(out.iterdir())
    assert 0 < len(outputs) < 300
    for path in outputs:
        assert path.suffix == ".png" and not path.name.startswith(".")
        assert image_size(path) == (64, 64)
