"""Schemathesis against a live node: the chat API does what its OpenAPI document says.

A bounded run (10 examples per operation, a fixed seed) of every operation, every check
(server errors, status codes, content types, headers, response schemas, schema-valid input
accepted, invalid input refused, `Allow` on 405s, auth...), with a valid token, except the
two operations that would end that token's session (sign-out, sign-out everywhere).
It must find nothing.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.procs import CHEAP_PASSWORD_HASHING, MANY_USERS_ONE_ADDRESS

from tests.e2e.server import ServerHandle, confab_server

pytestmark = pytest.mark.e2e

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SEED = 11
EXAMPLES = 10


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerHandle]:
    # The fuzzer posts fast from one address: limits high, so that it meets the API itself.
    env = {
        **CHEAP_PASSWORD_HASHING,
        **MANY_USERS_ONE_ADDRESS,
        "CONFAB_MEDIA_RENDER_PROCESSES": "1",
        "CONFAB_LOG_LEVEL": "WARNING",
    }
    with confab_server(tmp_path / "data", env=env) as handle:
        yield handle


def test_the_api_matches_its_document(server: ServerHandle, tmp_path: Path) -> None:
    if not SCHEMATHESIS.exists():
        pytest.fail(f"schemathesis is a test dependency: {SCHEMATHESIS} is missing")
    body = {"username": "fuzzer", "password": "fuzzer-password"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/api/accounts", json=body).status_code == 201
        token = http.post("/api/tokens", json=body).json()["token"]
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{server.url}/api/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--exclude-operation-id",
            "signOut",
            "--exclude-operation-id",
            "signOutEverywhere",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        check=False,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    assert " passed" in report and "failures" not in report.split("SUMMARY")[-1], report[-3000:]
    # And the node is still well.
    assert httpx.get(f"{server.url}/healthz").status_code == 200
