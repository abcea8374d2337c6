"""bench/procs.py: a benchmark runner killed with SIGTERM still stops what it started."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A runner in miniature: it says it is ready, then waits; its `finally` is its cleanup.
RUNNER = """
import sys, threading
from bench.procs import cleanup_on_sigterm
if sys.argv[2] == "on":
    cleanup_on_sigterm()
try:
    print("ready", flush=True)
    threading.Event().wait()
finally:
    open(sys.argv[1], "w").write("stopped its servers")
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signalled_runner_unwinds_through_its_finally_blocks(
    tmp_path: Path, sig: signal.Signals
) -> None:
    marker = tmp_path / "cleaned"
    assert _signalled(marker, sig, cleanup=True) == 128 + sig
    assert marker.read_text() == "stopped its servers"


def test_without_it_python_exits_on_sigterm_without_unwinding(tmp_path: Path) -> None:
    """What `cleanup_on_sigterm` is for: the default SIGTERM skips every `finally`."""
    marker = tmp_path / "cleaned"
    assert _signalled(marker, signal.SIGTERM, cleanup=False) == -signal.SIGTERM
    assert not marker.exists()


def _signalled(marker: Path, sig: signal.Signals, *, cleanup: bool) -> int:
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(marker), "on" if cleanup else "off"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    process.send_signal(sig)
    return process.wait(timeout=30)
