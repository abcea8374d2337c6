"""A node served by several HTTP processes (`CONFAB_HTTP_PROCESSES`, `--processes N`).

One Python process serves HTTP on one core; a media node answering cached thumbnails
is bound by that core long before the render workers are. This supervisor reserves the
port (bound with SO_REUSEPORT, never listening, so it receives no connection), starts N
ordinary node processes that each listen on it with SO_REUSEPORT (the kernel spreads new
connections over them), restarts one that dies, and passes SIGTERM/SIGINT on: each signal
it gets once to each process, so a second one cuts their drains short as it would for a
single process.

The first process starts alone and the others once it is serving: anything a node
creates at start-up in the data dir (generated secrets, the SQLite schema) is then
created once. The processes share the data dir, hence the result cache; lock files
there make a render happen once across them (`adapters.locks_file`). Each gets an equal
share of the render workers. Chat state that lives in process memory (the in-process
bus, presence, rate limits) cannot be shared, so a node with the chat role needs a
shared bus (Redis) to run several HTTP processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from confab.core.errors import InvalidInput
from confab.core.settings import Settings

_READY_TIMEOUT_SECONDS = 60.0
_RESTART_DELAY_SECONDS = 1.0


def check_processes(settings: Settings) -> None:
    """InvalidInput when these settings cannot run on several HTTP processes."""
    if settings.http_processes > 1 and "chat" in settings.roles and settings.bus_url == "memory://":
        raise InvalidInput(
            "chat on several HTTP processes needs a shared bus: set CONFAB_BUS_URL=redis://... "
            "(or serve chat from one process: --processes 1)",
            code="bad_setting",
        )


def child_environment(settings: Settings, port: int) -> dict[str, str]:
    """The environment of each HTTP process: this one's, plus what the CLI decided."""
    per_process = max(1, settings.render_processes() // settings.http_processes)
    return {
        **os.environ,
        "CONFAB_HOST": settings.host,
        "CONFAB_PORT": str(port),
        "CONFAB_DATA_DIR": str(settings.data_dir.resolve()),
        "CONFAB_ROLES": ",".join(settings.roles),
        "CONFAB_HTTP_PROCESSES": str(settings.http_processes),
        "CONFAB_HTTP_REUSE_PORT": "true",
        "CONFAB_MEDIA_RENDER_PROCESSES": str(per_process),
    }


class Supervisor:
    """Starts, watches and stops the HTTP processes of a node."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stopping = False
        self._children: list[subprocess.Popen[bytes]] = []
        self._signalled: set[int] = set()  # processes already sent a SIGTERM

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit code."""
        check_processes(self._settings)
        host = self._settings.host
        reserved = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind((host, self._settings.port))
        port = int(reserved.getsockname()[1])
        env = child_environment(self._settings, port)
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            first = self._start(env)
            if not self._wait_listening(host, port, first):
                return 0 if self._stopping else (first.poll() or 1)
            for _ in range(self._settings.http_processes - 1):
                self._start(env)
            shown = f"[{host}]" if ":" in host else host
            print(
                f"confab: roles {','.join(self._settings.roles)} listening on "
                f"http://{shown}:{port} ({self._settings.http_processes} processes)",
                flush=True,
            )
            self._watch(env)
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            reserved.close()
        return 0

    def _start(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        child = subprocess.Popen([sys.executable, "-m", "confab.cli", "serve"], env=env)
        self._children.append(child)
        return child

    def _wait_listening(self, host: str, port: int, child: subprocess.Popen[bytes]) -> bool:
        """Whether `child` came to accept connections (False: it exited, or stopping)."""
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline and not self._stopping:
            if child.poll() is not None:
                return False
            try:
                socket.create_connection((host, port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def _watch(self, env: dict[str, str]) -> None:
        """Replace a process that dies, until told to stop."""
        while not self._stopping:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            dead = next((child for child in self._children if child.pid == pid), None)
            if dead is None:
                continue
            dead.returncode = os.waitstatus_to_exitcode(status)
            self._children.remove(dead)
            if self._stopping:
                continue
            print(
                f"confab: HTTP process {pid} exited ({dead.returncode}); starting another",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(_RESTART_DELAY_SECONDS)  # a process that cannot start must not spin
            if not self._stopping:
                self._start(env)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """Pass the signal on: the first drains each process, a second one hurries it."""
        self._stopping = True
        for child in self._children:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
                self._signalled.add(child.pid)

    def _shutdown(self) -> None:
        """SIGTERM every process (they drain), then wait; kill one that outlives its grace.

        A process that got the operator's signal already is not sent another here: a
        second SIGTERM would cut its drain short.
        """
        self._stopping = True
        for child in self._children:
            if child.poll() is None and child.pid not in self._signalled:
                child.send_signal(signal.SIGTERM)
                self._signalled.add(child.pid)
        deadline = time.monotonic() + self._settings.shutdown_grace_seconds + 5
        for child in self._children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
