"""Render `deploy/nginx.conf.template`, check it with nginx and run nginx from it.

One template holds every proxy rule. It is rendered two ways:
- for compose (`compose_site()`), committed as `deploy/nginx.conf`: regenerate it with
  `.venv/bin/python -m tests.deploy.nginx --write` after editing the template;
- for a test or the e2e fleet (`running_nginx(...)`): local upstream ports, and pid, logs and
  temp paths under a private prefix, so nginx runs without root.

When the tests run as root (CI does), nginx is started as `nobody` all the same: that is what
proves the rendered file needs no privilege.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import pwd
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import free_port, stop_process, wait_http_ok

from confab.core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "deploy" / "nginx.conf.template"
COMPOSE_CONF_PATH = REPO / "deploy" / "nginx.conf"
# Multipart framing the media upload route accepts on top of the raw cap (media/web.py).
MULTIPART_SLACK = 64 * 1024
_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


class _Placeholders(string.Template):
    """Only `${UPPER_CASE}` is a placeholder: nginx's `$lower_case` variables pass through."""

    flags = 0  # case-sensitive, or `${host}`-style nginx variables would count as placeholders
    pattern = r"""
        \$(?:
            (?P<escaped>(?!)) |
            (?P<named>(?!)) |
            \{(?P<braced>[A-Z][A-Z0-9_]*)\} |
            (?P<invalid>(?!))
        )
    """


def media_max_body_bytes() -> int:
    """The largest body the media upload route accepts by default (cap plus multipart)."""
    # The field's default, not Settings(): the environment must not change a committed file.
    cap = Settings.model_fields["media_max_source_bytes"].default
    assert isinstance(cap, int)
    return cap + MULTIPART_SLACK


@dataclass(frozen=True)
class NginxSite:
    """The values that differ between deployments of the one template."""

    chat: Sequence[str]
    media: Sequence[str]
    listen: str = "80"
    pid_path: str = "/tmp/nginx.pid"
    error_log: str = "/dev/stderr"
    access_log: str = "/dev/stdout"
    temp_dir: str = "/var/cache/nginx"
    worker_processes: str = "auto"
    max_fails: int = 3
    fail_timeout: str = "10s"
    media_max_body: int = field(default_factory=media_max_body_bytes)

    @classmethod
    def under_prefix(cls, prefix: Path, **values: Any) -> NginxSite:
        """A site whose pid, logs and temp files all live under `prefix` (no root needed)."""
        return cls(
            pid_path=str(prefix / "nginx.pid"),
            error_log=str(prefix / "error.log"),
            access_log=str(prefix / "access.log"),
            temp_dir=str(prefix / "temp"),
            **values,
        )


def compose_site() -> NginxSite:
    """The site of `deploy/compose.yaml`: Docker's DNS names every replica of a service."""
    return NginxSite(chat=["chat:8000"], media=["media:8000"])


def _servers(addresses: Sequence[str], site: NginxSite) -> str:
    if not addresses:
        raise ValueError("an upstream needs at least one server")
    lines = []
    for address in addresses:
        if not _ADDRESS.match(address):
            raise ValueError(f"not a host:port upstream address: {address!r}")
        lines.append(
            f"        server {address} max_fails={site.max_fails} fail_timeout={site.fail_timeout};"
        )
    return "\n".join(lines)


def render(site: NginxSite, template: str | None = None) -> str:
    """The nginx.conf text for `site` (KeyError if the template names an unknown value)."""
    text = TEMPLATE_PATH.read_text() if template is None else template
    return _Placeholders(text).substitute(
        WORKER_PROCESSES=site.worker_processes,
        PID_PATH=site.pid_path,
        ERROR_LOG=site.error_log,
        ACCESS_LOG=site.access_log,
        TEMP_DIR=site.temp_dir,
        LISTEN=site.listen,
        CHAT_SERVERS=_servers(site.chat, site),
        MEDIA_SERVERS=_servers(site.media, site),
        MEDIA_MAX_BODY=f"{math.ceil(site.media_max_body / 1024)}k",
    )


def compose_conf() -> str:
    """What `deploy/nginx.conf` must contain."""
    header = (
        "# GENERATED from deploy/nginx.conf.template for compose.yaml: edit the template, then\n"
        "# run `.venv/bin/python -m tests.deploy.nginx --write` (a test checks they agree).\n\n"
    )
    return header + render(compose_site())


def nginx_binary() -> str | None:
    """Debian's nginx, or whichever is on PATH; None when there is none."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


@dataclass(frozen=True)
class _Identity:
    uid: int
    gid: int


def _unprivileged() -> _Identity | None:
    """Who to run nginx as: ourselves, or `nobody` when we are root."""
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")
    return _Identity(nobody.pw_uid, nobody.pw_gid)


def prepare_prefix(prefix: Path, site: NginxSite) -> Path:
    """Write the rendered conf and the temp dirs under `prefix`; return the conf path."""
    for name in _TEMP_DIRS:
        (Path(site.temp_dir) / name).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render(site))
    identity = _unprivileged()
    if identity is not None:
        for path in [prefix, *prefix.rglob("*")]:
            os.chown(path, identity.uid, identity.gid)
    return conf


def _nginx_argv(binary: str, prefix: Path, conf: Path, *extra: str) -> list[str]:
    # -e: the error log before the conf is read (Debian's default needs root to open).
    return [binary, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log"), *extra]


def _popen_identity() -> dict[str, Any]:
    identity = _unprivileged()
    if identity is None:
        return {}
    return {"user": identity.uid, "group": identity.gid, "extra_groups": []}


def check_config(binary: str, prefix: Path, conf: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on `conf`, run without root."""
    return subprocess.run(
        _nginx_argv(binary, prefix, conf, "-t"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        **_popen_identity(),
    )


@dataclass
class NginxHandle:
    """A running nginx started by `running_nginx`."""

    url: str
    port: int
    prefix: Path
    process: subprocess.Popen[bytes]
    site: NginxSite | None = None

    def reload(self, chat: Sequence[str], media: Sequence[str]) -> None:
        """Point the upstreams at new node lists (`nginx -s reload`: SIGHUP to the master).

        New connections go to the new lists at once; open WebSockets stay on the old
        worker processes until they close, as in a real reload.
        """
        assert self.site is not None
        self.site = dataclasses.replace(self.site, chat=list(chat), media=list(media))
        prepare_prefix(self.prefix, self.site)
        before = self._workers()
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        # Reloaded once the master started workers on the new configuration.
        while not self._workers() - before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nginx did not reload:\n{self.error_log()[-2000:]}")
            time.sleep(0.05)

    def _workers(self) -> set[int]:
        pid = self.process.pid
        path = Path(f"/proc/{pid}/task/{pid}/children")
        return {int(p) for p in path.read_text().split()} if path.exists() else set()

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> str:
        path = self.prefix / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def running_nginx(
    chat: Sequence[str],
    media: Sequence[str],
    *,
    ready_timeout: float = 15.0,
    **values: Any,
) -> Iterator[NginxHandle]:
    """Run nginx in front of `chat` and `media` (host:port lists) until the block ends.

    Extra keyword values go to `NginxSite` (e.g. `fail_timeout="30s"`, `worker_processes="1"`).
    """
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed")
    # Not under pytest's tmp_path: its parents are private to root, and nginx runs as nobody.
    prefix = Path(tempfile.mkdtemp(prefix="confab-nginx-"))
    port = free_port()
    site = NginxSite.under_prefix(
        prefix, chat=chat, media=media, listen=f"127.0.0.1:{port}", **values
    )
    conf = prepare_prefix(prefix, site)
    process = subprocess.Popen(
        _nginx_argv(binary, prefix, conf, "-g", "daemon off;"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **_popen_identity(),
    )
    handle = NginxHandle(f"http://127.0.0.1:{port}", port, prefix, process, site)
    try:
        wait_http_ok(
            f"{handle.url}/nginx-health", process, ready_timeout, handle.error_log, "nginx"
        )
        yield handle
    finally:
        # SIGTERM is nginx's fast shutdown; the master takes its workers down with it.
        stop_process(process, timeout=10)
        shutil.rmtree(prefix, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Print (or `--write`) deploy/nginx.conf rendered from the template."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {COMPOSE_CONF_PATH}")
    args = parser.parse_args(argv)
    text = compose_conf()
    if args.write:
        COMPOSE_CONF_PATH.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
