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
created once. Each process tells the supervisor when it listens (a line on a pipe of its
own), and the supervisor says the node is listening once all N do. The processes share
the data dir, hence the result cache; lock files there make a render happen once across
them (`adapters.locks_file`). Each gets an equal share of the render workers. Chat state
that lives in process memory (the in-process bus, presence, rate limits) cannot be
shared, so a node with the chat role needs a shared bus (Redis) to run several HTTP
processes.

Metrics: each process serves its own on a Unix socket in a private folder; the node's
`/metrics` (the supervisor on `CONFAB_METRICS_PORT`, or any process on the public port)
gathers them all, labelled by process (`confab.node.metrics_gather`). No process binds
the metrics port itself.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from confab.core.errors import InvalidInput
from confab.core.settings import Settings
from confab.node.metrics_gather import GatheringServer, gather

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


def child_environment(settings: Settings, port: int, metrics_dir: Path) -> dict[str, str]:
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
        "CONFAB_HTTP_METRICS_DIR": str(metrics_dir),
        "CONFAB_MEDIA_RENDER_PROCESSES": str(per_process),
    }


class Supervisor:
    """Starts, watches and stops the HTTP processes of a node."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._slots: dict[int, int] = {}  # pid -> slot (0..N-1): its metrics socket
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
        metrics_dir = Path(tempfile.mkdtemp(prefix="confab-metrics-"))
        env = child_environment(self._settings, port, metrics_dir)
        gathering: GatheringServer | None = None
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            gathering = self._gathering_server(metrics_dir)
            count = self._settings.http_processes
            # The first alone (it creates what the data dir lacks), then the others.
            if not self._wait_ready([self._start(env, 0, ready=True)]):
                return self._failed_start()
            started = [self._start(env, slot, ready=True) for slot in range(1, count)]
            if not self._wait_ready(started):
                return self._failed_start()
            shown = f"[{host}]" if ":" in host else host
            print(
                f"confab: roles {','.join(self._settings.roles)} listening on "
                f"http://{shown}:{port} ({count} processes)",
                flush=True,
            )
            self._watch(env)
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            reserved.close()
            if gathering is not None:
                gathering.close()
            shutil.rmtree(metrics_dir, ignore_errors=True)
        return 0

    def _gathering_server(self, metrics_dir: Path) -> GatheringServer | None:
        """The node's `/metrics` on the metrics port, gathered from every process."""
        settings = self._settings
        if settings.metrics_port is None:
            return None
        try:
            server = GatheringServer(
                settings.metrics_host,
                settings.metrics_port,
                lambda: gather(metrics_dir, settings.http_processes),
            )
        except OSError as exc:
            where = f"{settings.metrics_host}:{settings.metrics_port}"
            raise InvalidInput(
                f"cannot serve metrics on {where}: {exc.strerror or exc}", code="bad_setting"
            ) from None
        server.start()
        return server

    def _failed_start(self) -> int:
        """The exit code when a process did not come to listen."""
        if self._stopping:
            return 0
        for child in self._children:
            if child.poll() is not None and child.returncode != 0:
                return child.returncode
        return 1

    def _start(
        self, env: dict[str, str], slot: int, *, ready: bool = False
    ) -> tuple[subprocess.Popen[bytes], int | None]:
        """Start the HTTP process of `slot`; with `ready`, also the read end of the pipe
        on which it says it listens."""
        own = {**env, "CONFAB_HTTP_PROCESS_SLOT": str(slot)}
        read_end: int | None = None
        keep: tuple[int, ...] = ()
        if ready:
            read_end, write_end = os.pipe()
            own["CONFAB_HTTP_READY_FD"] = str(write_end)
            keep = (write_end,)
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "confab.cli", "serve"], env=own, pass_fds=keep
            )
        finally:
            for fd in keep:
                os.close(fd)  # the child's copy is the only writer left
        self._children.append(child)
        self._slots[child.pid] = slot
        return child, read_end

    def _wait_ready(self, started: list[tuple[subprocess.Popen[bytes], int | None]]) -> bool:
        """Whether every process of `started` came to listen (False: one exited first,
        none came in time, or stopping)."""
        waiting = {fd: child for child, fd in started if fd is not None}
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        try:
            while waiting and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                readable, _, _ = select.select(list(waiting), [], [], min(left, 0.5))
                for fd in readable:
                    if not os.read(fd, 64):
                        # The pipe closed unsaid: the process exited (reap it, so the
                        # exit code is known).
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            waiting[fd].wait(timeout=5)
                        return False
                    os.close(fd)
                    del waiting[fd]
            return not waiting
        finally:
            for fd in waiting:
                os.close(fd)

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
            slot = self._slots.pop(pid, 0)
            if self._stopping:
                continue
            print(
                f"confab: HTTP process {pid} exited ({dead.returncode}); starting another",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(_RESTART_DELAY_SECONDS)  # a process that cannot start must not spin
            if not self._stopping:
                self._start(env, slot)

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
