"""The servers under test: thumbor (own venv, file loader) and Confab (a media-only node).

Each runs in its own session (process group) so stopping it stops every process it forked,
and nothing else. Both get the same number of render processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.procs import free_port

from confab.core.upload_grants import HEADER, sign_grant, upload_grant_key

_BENCH_KEY = "bench-media-security-key"

THUMBOR_VERSION = "7.8.0"


def _http(
    url: str,
    data: bytes | None = None,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=data, method="POST" if data is not None else "GET", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


class Server:
    """A server process group with a base URL and a way to name corpus files in URLs."""

    name = "server"

    def __init__(self, work: Path, processes: int) -> None:
        self.work = work
        self.processes = processes
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = work / f"{self.name}.log"

    @property
    def base(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """Root pid of the process tree."""
        assert self.process is not None
        return self.process.pid

    def command(self) -> tuple[list[str], dict[str, str]]:
        """The command line and environment to start the server."""
        raise NotImplementedError

    def ready(self) -> bool:
        """True once the server answers."""
        raise NotImplementedError

    def path(self, options: str, source: str) -> str:
        """The request path of `options` applied to corpus file `source`."""
        raise NotImplementedError

    def prepare(self, corpus: Path, names: list[str]) -> None:
        """Make the corpus files available to the server (upload, or nothing)."""

    def start(self, timeout: float = 90.0) -> None:
        """Start and wait until ready; raise with the log tail if it does not come up."""
        cmd, env = self.command()
        self.work.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                if self.ready():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left."""
        if self.process is None:
            return
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)
        time.sleep(0.3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Thumbor(Server):
    """thumbor with its file loader, no source storage, optional file result storage."""

    name = "thumbor"

    def __init__(
        self, work: Path, processes: int, venv: Path, corpus: Path, result_cache: bool
    ) -> None:
        super().__init__(work, processes)
        self.venv = venv
        self.corpus = corpus
        self.result_cache = result_cache
        self.result_dir = work / "thumbor-results"

    def command(self) -> tuple[list[str], dict[str, str]]:
        if self.result_dir.exists():
            shutil.rmtree(self.result_dir)
        lines = [
            "LOADER = 'thumbor.loaders.file_loader'",
            f"FILE_LOADER_ROOT_PATH = {str(self.corpus)!r}",
            "ALLOW_UNSAFE_URL = True",
            # Originals are local files already: no second copy in a source storage.
            "STORAGE = 'thumbor.storages.no_storage'",
            "QUALITY = 85",
            "AUTO_WEBP = False",
        ]
        if self.result_cache:
            lines += [
                "RESULT_STORAGE = 'thumbor.result_storages.file_storage'",
                f"RESULT_STORAGE_FILE_STORAGE_ROOT_PATH = {str(self.result_dir)!r}",
                "RESULT_STORAGE_STORES_UNSAFE = True",
            ]
        conf = self.work / "thumbor.conf"
        self.work.mkdir(parents=True, exist_ok=True)
        conf.write_text("\n".join(lines) + "\n")
        cmd = [
            str(self.venv / "bin" / "thumbor"),
            "-c", str(conf),
            "-i", "127.0.0.1",
            "-p", str(self.port),
            "-l", "warning",
            "--processes", str(self.processes),
        ]  # fmt: skip
        return cmd, dict(os.environ)

    def ready(self) -> bool:
        return _http(f"{self.base}/healthcheck", timeout=2)[0] == 200

    def path(self, options: str, source: str) -> str:
        return f"/unsafe/{options}/{source}"


class Confab(Server):
    """`confab serve --roles media` with unsafe URLs on, auto format off, the same number of
    render processes.

    A media-only node is thumbor's peer: `confab up` would also run the chat role (its
    database, its imports) in the measured process tree.
    """

    name = "confab"

    def __init__(
        self,
        work: Path,
        processes: int,
        result_cache: bool,
        command: list[str] | None = None,
        http_processes: int = 1,
    ) -> None:
        super().__init__(work, processes)
        self.result_cache = result_cache
        self.http_processes = http_processes
        self.data_dir = work / "confab-data"
        self.ids: dict[str, str] = {}
        self.base_command = command or [
            str(Path(sys.executable).parent / "confab"),
            "serve",
            "--roles",
            "media",
        ]

    def command(self) -> tuple[list[str], dict[str, str]]:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        env = {
            **os.environ,
            "CONFAB_MEDIA_ALLOW_UNSAFE": "true",
            "CONFAB_MEDIA_AUTO_FORMAT": "false",
            "CONFAB_MEDIA_RENDER_PROCESSES": str(self.processes),
            "CONFAB_MEDIA_RESULT_CACHE": "true" if self.result_cache else "false",
            # Render workers are split between the HTTP processes (same total as thumbor's).
            "CONFAB_HTTP_PROCESSES": str(self.http_processes),
            # thumbor runs with `-l warning` (no line per request); the same for Confab,
            # whose per-request log line would otherwise cost it ~15% of a cache hit.
            "CONFAB_LOG_LEVEL": "WARNING",
            # Uploads need a grant signed with a key derived from this one (prepare mints it).
            "CONFAB_MEDIA_SECURITY_KEY": _BENCH_KEY,
            "CONFAB_MEDIA_UPLOAD_BURST": "100000",
        }
        cmd = [
            *self.base_command,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--data", str(self.data_dir),
        ]  # fmt: skip
        return cmd, env

    def ready(self) -> bool:
        return _http(f"{self.base}/healthz", timeout=2)[0] == 200

    def prepare(self, corpus: Path, names: list[str]) -> None:
        grant = {HEADER: sign_grant(upload_grant_key(_BENCH_KEY), "bench", 3600)}
        for name in names:
            status, body = _http(
                f"{self.base}/media/uploads", data=(corpus / name).read_bytes(), headers=grant
            )
            # 201 created, 200 when the same bytes were stored already (content-addressed).
            if status not in (200, 201):
                raise RuntimeError(f"upload of {name} answered {status}: {body[:300]!r}")
            self.ids[name] = json.loads(body)["id"]

    def path(self, options: str, source: str) -> str:
        return f"/media/unsafe/{options}/upload/{self.ids[source]}"


class Floor(Server):
    """`floor_server.py`: uvicorn answering each path with the body Confab gave for it
    (held in a dict), from `http_processes` processes: the floor under a cache hit."""

    name = "floor"

    def __init__(self, work: Path, http_processes: int) -> None:
        super().__init__(work, processes=0)
        self.http_processes = http_processes
        self.bodies = work / "floor-bodies"

    def fill(self, base: str, paths: list[str]) -> None:
        """Fetch every path's body from the server at `base` (call before `start`)."""
        self.bodies.mkdir(parents=True, exist_ok=True)
        manifest = {}
        for index, path in enumerate(paths):
            status, body = _http(base + path)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}: the floor needs every body")
            (self.bodies / f"{index}.bin").write_bytes(body)
            manifest[path] = f"{index}.bin"
        (self.bodies / "manifest.json").write_text(json.dumps(manifest))

    def command(self) -> tuple[list[str], dict[str, str]]:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": root}
        cmd = [sys.executable, "-m", "bench.media.floor_server", "--port", str(self.port)]
        cmd += ["--processes", str(self.http_processes), "--bodies", str(self.bodies)]
        return cmd, env

    def ready(self) -> bool:
        return _http(f"{self.base}/", timeout=2)[0] == 404

    def path(self, options: str, source: str) -> str:
        raise NotImplementedError("the floor answers the paths it was filled with")


def ensure_thumbor(venv: Path, python: str = "python3") -> str:
    """Create the thumbor venv if missing; return the installed thumbor version."""
    thumbor = venv / "bin" / "thumbor"
    if not thumbor.exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"thumbor=={THUMBOR_VERSION}"], check=True
        )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import thumbor; print(thumbor.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()
