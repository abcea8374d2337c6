"""`confab thumbs --jobs-url redis://...` on a real `confab worker`: the local run's output.

The same corpus (local files, a URL, a corrupt file) is made into thumbnails twice: on
the local process pool, and on a `confab worker` through Redis with the shared blob store.
Every output file must be byte-identical, and the failure reported with the same reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from confab.core import jsoncodec
from tests.contract.celery_fleet import Worker, delete_queue, make_target
from tests.integration.batch_support import serve_folder, write_corrupt_jpeg, write_image

pytestmark = pytest.mark.e2e


def thumbs(argv: list[str], env: dict[str, str]) -> dict[str, object]:
    process = subprocess.run(
        [sys.executable, "-m", "confab.cli", "thumbs", *argv, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert process.returncode == 1, process.stderr  # the corrupt source fails
    assert "Traceback" not in process.stderr
    report: dict[str, object] = jsoncodec.loads(process.stdout)
    return report


def outcomes(report: dict[str, object]) -> dict[str, tuple[str, str | None]]:
    sources = report["sources"]
    assert isinstance(sources, list)
    return {entry["source"]: (entry["status"], entry["reason"]) for entry in sources}


def test_thumbs_on_celery_workers_match_the_local_run(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for index, (width, height) in enumerate([(640, 480), (300, 500), (1200, 90), (64, 64)]):
        write_image(photos / f"p{index}.jpg", width, height)
        write_image(photos / f"q{index}.png", height, width)
    write_corrupt_jpeg(photos / "broken.jpg")
    web = tmp_path / "web"
    web.mkdir()
    write_image(web / "remote.jpg", 800, 600)

    target = make_target("redis", "thumbs", tmp_path / "blobs")
    worker = Worker(
        target,
        tmp_path / "worker.log",
        argv=[sys.executable, "-m", "confab.cli", "worker", "--concurrency", "2"],
    )
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CONFAB_")}
    try:
        worker.start(env={**target.env(), "CONFAB_DATA_DIR": str(tmp_path / "worker-data")})
        with serve_folder(web) as base:
            argv = [
                str(photos),
                f"{base}/remote.jpg",
                "--size",
                "120x90",
                "--processes",
                "2",
                "--allow-network",
                "127.0.0.1/32",
                "--allow-port",
                "1024-65535",
            ]
            local = thumbs([*argv, "-o", str(tmp_path / "local")], base_env)
            worker.wait_ready()
            remote_env = {
                **base_env,
                "CONFAB_JOBS_QUEUE": target.queue,
                "CONFAB_BLOBS_URL": target.blobs_dir.resolve().as_uri(),
            }
            remote = thumbs(
                [*argv, "-o", str(tmp_path / "celery"), "--jobs-url", target.broker_url],
                remote_env,
            )
        assert worker.terminate() == 0  # SIGTERM: a clean, warm shutdown
    finally:
        worker.stop()
        delete_queue(target)

    assert outcomes(local) == outcomes(remote)
    assert outcomes(remote)[str(photos / "broken.jpg")][0] == "failed"
    local_files = {p.name: p.read_bytes() for p in (tmp_path / "local").iterdir()}
    celery_files = {p.name: p.read_bytes() for p in (tmp_path / "celery").iterdir()}
    assert len(local_files) == 9  # 8 files and the URL; the corrupt one has no output
    assert celery_files == local_files  # byte for byte
    # The renders really ran on the worker: one `job` line each, in its own log.
    renders = [line for line in worker.jobs() if line["task"] == "media.render"]
    assert sorted(line["outcome"] for line in renders).count("ok") == 9
    assert target.leftover_blobs() == []
