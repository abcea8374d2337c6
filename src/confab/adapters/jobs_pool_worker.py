"""The worker side of the local process pool: a small program that runs tasks.

A worker is a fresh interpreter started by `LocalProcessPool`
(`python -c "from confab.adapters.jobs_pool_worker import main; main()"`). It reads
length-prefixed pickle frames on its stdin and answers each on its original stdout (its
fd 1 is pointed at stderr, so a stray print cannot corrupt the protocol):

- the first frame: `(sys_path, tasks, initializer, initargs)`;
- then one frame per task, `(name, args)`, answered by `("ok", result)` or
  `("error", exception)`.

End of input means "exit". Kept small on purpose: a worker imports this module and the
modules of the tasks it runs, nothing of the server (web framework, settings, metrics,
event loop), because every module imported here is resident once per worker.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import struct
import sys
from typing import IO, Any

from confab.core.tasks import resolve_task

# Frame header: the length of the pickle that follows.
HEADER = struct.Struct("!Q")


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's payload, or None at end of input."""
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    payload = _read_exactly(stream, size)
    if payload is None:
        raise EOFError("input ended inside a frame")
    return payload


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    missing = size
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            if chunks:
                raise EOFError("input ended inside a frame")
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    """Write one frame and flush it."""
    stream.write(HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _answer(tasks: dict[str, str], name: str, args: tuple[Any, ...]) -> bytes:
    """The pickled reply to one task (never raises for the task's own failures)."""
    try:
        reply: tuple[str, Any] = ("ok", resolve_task(tasks, name)(*args))
    except Exception as exc:
        reply = ("error", exc)
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        failure = TypeError(f"task {name} returned or raised something unpicklable: {exc!r}")
        return pickle.dumps(("error", failure), protocol=pickle.HIGHEST_PROTOCOL)


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Run the set-up frame, then answer task frames until the input ends."""
    setup = read_frame(requests)
    if setup is None:
        return
    sys_path, tasks, initializer, initargs = pickle.loads(setup)  # noqa: S301 - from the parent
    sys.path[:] = list(sys_path)  # the parent's, so its task modules import here too
    if initializer:
        module_name, _, attr = initializer.partition(":")
        getattr(importlib.import_module(module_name), attr)(*initargs)
    while (frame := read_frame(requests)) is not None:
        name, args = pickle.loads(frame)  # noqa: S301 - the parent, over a private pipe
        write_frame(replies, _answer(tasks, name, args))


def main() -> None:
    """Entry point of a worker process."""
    # Ctrl-C on a terminal reaches the whole process group: the parent decides when
    # workers stop (end of input, or a kill on timeout), not the keyboard.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # print() and C libraries writing to stdout now land on stderr
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies)
