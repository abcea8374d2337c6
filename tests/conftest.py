"""Fixtures shared by every test tier."""

from __future__ import annotations

import os

import pytest
from bench.procs import free_port

__all__ = ["IN_CI", "free_port", "skip_or_fail"]

IN_CI = os.environ.get("CI") == "true"


def skip_or_fail(reason: str) -> None:
    """Skip locally when a service is absent; under CI=true that is a failure."""
    if IN_CI:
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)
