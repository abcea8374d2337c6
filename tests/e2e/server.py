"""Start a real `confab` server process for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.procs import free_port, stop_process, wait_http_ok


@dataclass
class ServerHandle:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None


@contextmanager
def confab_server(
    data_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    command: str = "up",
    ready_timeout: float = 60.0,
) -> Iterator[ServerHandle]:
    """Run `confab <command> --port P --data DIR *args` until the block ends (then SIGTERM)."""
    port = free_port()
    full_env = {**os.environ, "CONFAB_LOG_JSON": "true", **(env or {})}
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "confab.cli",
                command,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data",
                str(data_dir),
                *args,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    handle = ServerHandle(f"http://127.0.0.1:{port}", process, data_dir, log_path)
    try:
        wait_http_ok(f"{handle.url}/healthz", process, ready_timeout, handle.log)
        yield handle
    finally:
        stop_process(process, timeout=30)
