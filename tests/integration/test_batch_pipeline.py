"""`confab thumbs` in-process on real images, a real process pool and a real HTTP origin."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import pytest

from confab.bootstrap import build_batch_runtime
from confab.cli import build_parser
from confab.core import jsoncodec
from confab.media.batch.command import run_thumbs
from tests.integration.batch_support import (
    image_size,
    serve_folder,
    write_corrupt_jpeg,
    write_image,
)

_reports = itertools.count()


def thumbs(tmp_path: Path, *argv: str) -> tuple[int, dict[str, Any], str]:
    """Run `confab thumbs ARGV --processes 2`; the exit code, the JSON report, human output."""
    report = tmp_path / f"report-{next(_reports)}.json"
    args = build_parser().parse_args(["thumbs", *argv, "--processes", "2", "--json", str(report)])
    human = io.StringIO()
    code = run_thumbs(args, build_batch_runtime, stdout=human, stderr=human)
    return code, jsoncodec.loads(report.read_bytes()), human.getvalue()


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {Path(entry["source"]).name: entry for entry in report["sources"]}


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    write_image(folder / "wide.jpg", 200, 150)
    write_image(folder / "tall.png", 120, 160)
    write_image(folder / "sub" / "square.jpg", 90, 90)
    write_corrupt_jpeg(folder / "broken.jpg")
    return folder


def test_folder_renders_then_rerun_skips_and_corrupt_fails(tmp_path: Path, photos: Path) -> None:
    out = tmp_path / "out"
    code, report, human = thumbs(tmp_path, str(photos), "-o", str(out), "--size", "64x48")
    assert code == 1, human
    entries = by_name(report)
    assert report["summary"] == {**report["summary"], "total": 4, "ok": 3, "failed": 1}
    for name in ("wide.jpg", "tall.png", "square.jpg"):
        entry = entries[name]
        assert entry["status"] == "ok", entry
        assert image_size(Path(entry["output"])) == (64, 48) == (entry["width"], entry["height"])
        assert entry["bytes"] == Path(entry["output"]).stat().st_size > 0
    # Without --format the output keeps the source's format.
    assert Path(entries["wide.jpg"]["output"]).suffix == ".jpg"
    assert Path(entries["tall.png"]["output"]).suffix == ".png"
    assert entries["broken.jpg"]["status"] == "failed"
    assert entries["broken.jpg"]["reason"] == "corrupt_image"
    assert "broken.jpg" in human and "corrupt_image" in human
    written = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert len(written) == 3  # three thumbnails, no temporary file left

    code, again, _ = thumbs(tmp_path, str(photos), "-o", str(out), "--size", "64x48")
    assert code == 1
    assert again["summary"]["skipped"] == 3 and again["summary"]["failed"] == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == written

    (photos / "broken.jpg").unlink()
    code, done, _ = thumbs(tmp_path, str(photos), "-o", str(out), "--size", "64x48")
    assert code == 0 and done["summary"]["skipped"] == 3


def test_fit_in_with_a_format_gets_its_own_names(tmp_path: Path, photos: Path) -> None:
    (photos / "broken.jpg").unlink()
    out = tmp_path / "out"
    code, report, _ = thumbs(
        tmp_path, str(photos), "-o", str(out), "--size", "64x64", "--fit-in", "--format", "webp"
    )
    assert code == 0
    entries = by_name(report)
    assert image_size(Path(entries["wide.jpg"]["output"])) == (64, 48)
    assert image_size(Path(entries["tall.png"]["output"])) == (48, 64)
    assert {Path(e["output"]).suffix for e in entries.values()} == {".webp"}


def test_url_sources_need_the_network_and_port_allowed(tmp_path: Path, photos: Path) -> None:
    out = tmp_path / "out"
    with serve_folder(photos) as base:
        url = f"{base}/wide.jpg"
        code, refused, _ = thumbs(tmp_path, url, "-o", str(out), "--size", "32x32")
        assert code == 1
        [entry] = refused["sources"]
        assert entry["status"] == "failed" and entry["reason"] == "source_forbidden"

        network = ("--allow-network", "127.0.0.1/32")
        code, refused, _ = thumbs(tmp_path, url, "-o", str(out), "--size", "32x32", *network)
        assert code == 1
        [entry] = refused["sources"]
        assert entry["reason"] == "source_forbidden" and "port" in entry["detail"]

        port = ("--allow-port", base.rsplit(":", 1)[1])
        code, report, human = thumbs(
            tmp_path, url, "-o", str(out), "--size", "32x32", *network, *port
        )
    assert code == 0, human
    [entry] = report["sources"]
    assert entry["status"] == "ok" and entry["source"] == url
    assert image_size(Path(entry["output"])) == (32, 32)
