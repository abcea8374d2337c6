"""The supervisor of a node's HTTP processes passes each operator signal on exactly once.

A node process takes a second SIGTERM as "hurry: close what is left and exit", so the
supervisor must not add one of its own while it shuts down after the first.
"""

from __future__ import annotations

import signal

from confab.bootstrap.processes import Supervisor
from confab.core.settings import Settings


class FakeChild:
    """What the supervisor uses of a `subprocess.Popen`: pid, poll, signals, wait."""

    def __init__(self, pid: int, alive: bool = True) -> None:
        self.pid = pid
        self.returncode: int | None = None if alive else 0
        self.signals: list[int] = []

    def poll(self) -> int | None:
        return self.returncode

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)

    def wait(self, timeout: float | None = None) -> int:
        self.returncode = 0
        return 0


def supervisor(children: list[FakeChild]) -> Supervisor:
    made = Supervisor(Settings(http_processes=2, shutdown_grace_seconds=1))
    made._children = children  # type: ignore[assignment]
    return made


def test_one_signal_reaches_each_process_once_through_the_shutdown() -> None:
    children = [FakeChild(101), FakeChild(102), FakeChild(103, alive=False)]
    running = supervisor(children)
    running._stop(signal.SIGTERM, None)  # the operator's SIGTERM
    running._shutdown()  # then the supervisor winds down
    assert [child.signals for child in children] == [[signal.SIGTERM], [signal.SIGTERM], []]


def test_a_second_operator_signal_is_passed_on_as_a_second_sigterm() -> None:
    children = [FakeChild(101), FakeChild(102)]
    running = supervisor(children)
    running._stop(signal.SIGTERM, None)
    running._stop(signal.SIGINT, None)
    running._shutdown()
    assert [child.signals for child in children] == [[signal.SIGTERM] * 2] * 2


def test_shutdown_without_a_signal_still_stops_every_process() -> None:
    children = [FakeChild(101), FakeChild(102)]
    running = supervisor(children)
    running._shutdown()  # e.g. the first process never came up
    assert [child.signals for child in children] == [[signal.SIGTERM]] * 2
