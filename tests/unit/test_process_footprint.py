"""What a process loads and how its allocator is set: memory is resident once per process."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

from confab.core.malloc import tune_malloc


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


# Builds a media-only node as `confab serve --roles media` does (parser, settings, the
# composition root), then closes it.
MEDIA_NODE = """
import asyncio
from confab.bootstrap import assemble
from confab.cli import build_parser
from confab.core.settings import Settings

async def build():
    node = await assemble(Settings(roles=["media"], data_dir={data_dir!r}))
    await node.aclose()

build_parser()
asyncio.run(build())
"""


def test_a_media_node_loads_only_what_it_uses(tmp_path: Path) -> None:
    # Every module imported is resident for the life of the process, used or not.
    modules = _modules_after(MEDIA_NODE.format(data_dir=str(tmp_path)))
    assert {"confab.bootstrap", "confab.media.web", "uvicorn"} <= modules
    unused = {
        # the chat role's database, password hashing and WebSocket stacks
        *("sqlalchemy", "alembic", "argon2", "asyncpg", "confab.chat"),
        *("websockets", "confab.node.websocket"),
        # engines only other URLs name (CONFAB_BUS_URL, CONFAB_JOBS_URL)
        *("redis", "celery", "kombu"),
        # web sources: loaded on the first fetch
        *("httpx", "httpcore"),
        # `confab thumbs` only; preview pages are parsed in the workers
        *("rich", "confab.media.batch.command", "html.parser"),
    }
    assert not modules & unused


def test_a_render_worker_loads_only_what_rendering_needs() -> None:
    # What a pool worker imports to run every media task (the pool's own leanness, for
    # any task, is checked in tests/contract/test_job_queue.py).
    modules = _modules_after(
        "from confab.adapters import jobs_pool_worker\n"
        "from confab.media.imaging import render, tasks\n"
        "from confab.media.domain import pageparse\n"
        "tasks.init_worker(0, ())"
    )
    assert "pyvips" in modules
    server_side = {"asyncio", "starlette", "uvicorn", "prometheus_client", "confab.core.settings"}
    # ssl and hashlib's _hashlib map OpenSSL's libcrypto (3.4 MiB resident) into a process.
    assert not modules & {*server_side, "ssl", "_hashlib", "orjson", "pydantic"}


def test_malloc_tuning_applies_on_glibc() -> None:
    applied = tune_malloc(arenas=2)
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert applied is on_glibc
