"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import socket

import pytest

IN_CI = os.environ.get("CI") == "true"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def skip_or_fail(reason: str) -> None:
    """Skip locally when a service is absent; under CI=true that is a failure."""
    if IN_CI:
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)
