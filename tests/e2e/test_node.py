"""A real `confab up` process: health, metrics, logs, secrets and graceful shutdown."""

from __future__ import annotations

import json
import signal
import stat
from pathlib import Path

import httpx

from tests.e2e.server import confab_server


def test_up_serves_health_metrics_and_drains_on_sigterm(tmp_path: Path) -> None:
    with confab_server(tmp_path / "data") as server:
        health = httpx.get(f"{server.url}/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ready"
        assert set(health.json()["roles"]) == {"chat", "media"}

        missing = httpx.get(f"{server.url}/no/such/page")
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"

        metrics = httpx.get(f"{server.url}/metrics")
        assert metrics.status_code == 200
        assert "text/plain" in metrics.headers["content-type"]
        assert 'confab_http_requests_total{method="GET",route="healthz",status="200"}' in (
            metrics.text
        )

        key_file = server.data_dir / "media_security_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0

    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["msg"] == "request"]
    assert any(r["path"] == "/healthz" and r["status"] == 200 for r in requests)
    assert all("duration_ms" in r for r in requests)
    assert "listening on http://127.0.0.1:" in server.log()


def test_bad_setting_exits_with_a_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "confab.cli",
            "serve",
            "--roles",
            "chat,nope",
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "invalid setting" in result.stderr
    assert "Traceback" not in result.stderr
