"""What a process loads and how its allocator is set: memory is resident once per process."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

from confab.core.malloc import tune_malloc


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_a_media_node_does_not_load_the_chat_role() -> None:
    # The composition root and the CLI are imported by every node; the chat role's
    # database stack is imported only when a node runs chat.
    modules = _modules_after("import confab.cli, confab.bootstrap")
    assert "confab.bootstrap" in modules
    chat_only = {"sqlalchemy", "alembic", "argon2", "asyncpg", "confab.chat"}
    assert not modules & chat_only


def test_malloc_tuning_applies_on_glibc() -> None:
    applied = tune_malloc(arenas=2)
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert applied is on_glibc
