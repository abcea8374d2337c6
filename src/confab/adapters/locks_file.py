"""Per-key locks shared by the processes of one machine: a lock file per key (flock).

A lock file exists only while its key is held or waited for: the holder unlinks it
before unlocking, and a process that locked a file no longer at its path (unlinked
meanwhile) starts again, so the folder does not fill with a file per key ever seen.
Waiters poll with a short back-off rather than block a thread each in flock(): a wait
costs the event loop nothing, and a lock is held for one render at most.

Written by hand: the lock libraries on PyPI (filelock, portalocker) block a thread per
waiter or leave one file per key behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

_FIRST_WAIT = 0.002
_LONGEST_WAIT = 0.05


class FileKeyLocks:
    """`hold(key)`: an exclusive lock on `folder/<hash of key>.lock` while in the block."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Wait for the lock of `key` (polling), hold it through the block, release."""
        self._folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:40]
        path = self._folder / f"{name}.lock"
        fd = await self._acquire(path)
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # first: a waiter that locks this inode next sees it gone
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @staticmethod
    async def _acquire(path: Path) -> int:
        wait = _FIRST_WAIT
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                await asyncio.sleep(wait)
                wait = min(wait * 2, _LONGEST_WAIT)
                continue
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                return fd
            # Locked a file its holder unlinked on release: take the new one.
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
