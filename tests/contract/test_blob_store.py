"""Every BlobStore passes the same contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from confab.adapters.blobs_fs import FileBlobStore
from confab.core.errors import InvalidInput
from confab.core.memory import MemoryBlobStore
from confab.core.ports import BlobStore

STORES: dict[str, Callable[[Path], BlobStore]] = {
    "memory": lambda _: MemoryBlobStore(),
    "files": lambda tmp: FileBlobStore(tmp / "blobs"),
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return STORES[request.param](tmp_path)


async def test_put_get_exists_delete(store: BlobStore) -> None:
    assert await store.get("a/b.bin") is None
    assert not await store.exists("a/b.bin")
    await store.put("a/b.bin", b"hello")
    assert await store.get("a/b.bin") == b"hello"
    assert await store.exists("a/b.bin")
    await store.delete("a/b.bin")
    assert await store.get("a/b.bin") is None
    await store.delete("a/b.bin")  # absent is fine


async def test_overwrite_replaces_whole_blob(store: BlobStore) -> None:
    await store.put("k", b"x" * 1000)
    await store.put("k", b"short")
    assert await store.get("k") == b"short"


@pytest.mark.parametrize("key", ["", "../etc/passwd", "/abs", "a//b", "a/../b", "a b", ".hidden"])
async def test_unsafe_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        await store.put(key, b"x")
    with pytest.raises(InvalidInput):
        await store.get(key)


async def test_local_path_when_present_reads_the_blob(store: BlobStore) -> None:
    await store.put("p/q", b"data")
    path = store.local_path("p/q")
    if path is not None:
        assert path.read_bytes() == b"data"
    else:
        assert isinstance(store, MemoryBlobStore)
