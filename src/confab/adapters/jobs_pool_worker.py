"""The worker side of the local process pool: a small program that runs tasks.

A worker is a fresh interpreter started by `LocalProcessPool`
(`python -c "from confab.adapters.jobs_pool_worker import main; main()"`). It reads
length-prefixed pickle frames on its stdin and answers each on its original stdout (its
fd 1 is pointed at stderr, so a stray print cannot corrupt the protocol):

- the first frame: `(sys_path, tasks, initializer, initargs, memory_policy)`;
- then one frame per task, `(name, args)`, answered by `("ok", result, retire)` or
  `("error", exception, retire)`.

End of input means "exit"; so does `retire` True, sent when the worker's memory stayed
high after the task (see `worker_memory`): the pool then starts a fresh one.

Kept small on purpose: a worker imports this module and the modules of the tasks it
runs, nothing of the server (web framework, settings, metrics, event loop), because
every module imported here is resident once per worker.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import struct
import sys
from typing import IO, Any

from confab.adapters.worker_memory import MemoryPolicy, MemoryWatch
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


def _run(tasks: dict[str, str], name: str, args: tuple[Any, ...]) -> tuple[str, Any]:
    """("ok", result) or ("error", exception): never raises for the task's own failures."""
    try:
        return ("ok", resolve_task(tasks, name)(*args))
    except Exception as exc:
        return ("error", exc)


def _encode(name: str, reply: tuple[str, Any], retire: bool) -> bytes:
    try:
        return pickle.dumps((*reply, retire), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        failure = TypeError(f"task {name} returned or raised something unpicklable: {exc!r}")
        return pickle.dumps(("error", failure, retire), protocol=pickle.HIGHEST_PROTOCOL)


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Run the set-up frame, then answer task frames until the input ends."""
    setup = read_frame(requests)
    if setup is None:
        return
    sys_path, tasks, initializer, initargs, policy = pickle.loads(setup)  # noqa: S301 - parent
    sys.path[:] = list(sys_path)  # the parent's, so its task modules import here too
    if initializer:
        module_name, _, attr = initializer.partition(":")
        getattr(importlib.import_module(module_name), attr)(*initargs)
    watch = MemoryWatch(policy if isinstance(policy, MemoryPolicy) else MemoryPolicy())
    watch.start()
    while (frame := read_frame(requests)) is not None:
        name, args = pickle.loads(frame)  # noqa: S301 - the parent, over a private pipe
        reply = _run(tasks, name, args)
        del args, frame  # let the task's input go before measuring what stays
        retire = watch.should_retire()
        write_frame(replies, _encode(name, reply, retire))
        if retire:
            return


def main() -> None:
    """Entry point of a worker process."""
    # Ctrl-C on a terminal reaches the whole process group: the parent decides when
    # workers stop (end of input, or a kill on timeout), not the keyboard.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # print() and C libraries writing to stdout now land on stderr
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies)
