"""Chat and the media role: attachments and link previews (fake MediaClient, memory store)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from confab.adapters.chatstore_memory import MemoryChatStore
from confab.chat.busevent import decode
from confab.chat.domain import User, message_json
from confab.chat.ports import MediaClient
from confab.chat.services import ChatConfig, ChatServices, build_chat_services
from confab.chat.services.passwords import HashParams
from confab.core import jsoncodec
from confab.core.errors import NotFound
from confab.core.memory import InProcessBus
from tests.polling import until

FAST = HashParams(time_cost=1, memory_kib=64, parallelism=1)
PHOTO = "a" * 64
SKETCH = "b" * 64


@dataclass(frozen=True)
class FakeAttachment:
    id: str
    width: int
    height: int
    thumbnail_url: str
    full_url: str


@dataclass(frozen=True)
class FakePreview:
    url: str
    title: str | None
    description: str | None
    image: str | None


@dataclass
class FakeMedia:
    """Knows two uploads; previews every URL but those in `failing`; can be held back."""

    failing: set[str] = field(default_factory=set)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    asked: list[tuple[str, ...]] = field(default_factory=list)
    described: list[tuple[str, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gate.set()

    async def describe_attachments(self, upload_ids: Sequence[str]) -> Mapping[str, Any]:
        self.described.append(tuple(upload_ids))
        known = {
            PHOTO: FakeAttachment(
                PHOTO, 800, 600, f"/media/s1/thumb/{PHOTO}", f"/media/s2/{PHOTO}"
            ),
            SKETCH: FakeAttachment(SKETCH, 10, 20, f"/media/s3/thumb/{SKETCH}", "/media/s4/x"),
        }
        return {i: known[i] for i in upload_ids if i in known}

    async def link_previews(self, urls: Sequence[str]) -> Sequence[Any]:
        self.asked.append(tuple(urls))
        await self.gate.wait()
        return [
            FakePreview(url, f"title of {url}", "about", f"/media/sig/200x200/{len(url)}")
            for url in urls
            if url not in self.failing
        ]


@dataclass
class Room:
    services: ChatServices
    media: FakeMedia
    alice: User
    frames: list[dict[str, Any]]
    published: asyncio.Condition

    async def updates(self, count: int, timeout: float = 2.0) -> list[dict[str, Any]]:
        """Wait until `count` previews_set events were published; return them."""
        async with asyncio.timeout(timeout), self.published:
            await self.published.wait_for(lambda: len(self.updated) >= count)
        return self.updated

    @property
    def updated(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "previews_set"]

    async def settle(self) -> None:
        """Let background preview work finish."""
        previewer = self.services.messages._previewer
        assert previewer is not None
        await until(lambda: previewer.pending == 0, 5, "previews done")


async def open_room(media: MediaClient | None) -> AsyncIterator[Room]:
    store = MemoryChatStore()
    bus = InProcessBus()
    services = build_chat_services(store, bus, ChatConfig(hash_params=FAST), media=media)
    await services.accounts.register("alice", "password-alice")
    token = await services.accounts.sign_in("alice", "password-alice", "test")
    alice = await services.accounts.authenticate(token.token)
    await services.rooms.create(alice, "lobby")
    frames: list[dict[str, Any]] = []
    published = asyncio.Condition()

    async def record(frame: bytes) -> None:
        frames.append(jsoncodec.loads(decode(frame).payload))
        async with published:
            published.notify_all()

    await bus.subscribe("room.lobby", record)
    assert isinstance(media, FakeMedia)
    yield Room(services, media, alice, frames, published)
    await services.messages.aclose()
    await store.close()


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    async for opened in open_room(FakeMedia()):
        yield opened


# attachments


async def test_attachments_are_stored_and_shown_as_objects(room: Room) -> None:
    messages = room.services.messages
    message, created = await messages.send(
        room.alice, "lobby", "pictures", "c1", attachments=[PHOTO, SKETCH, PHOTO]
    )
    assert created
    expected = [
        {
            "id": PHOTO,
            "width": 800,
            "height": 600,
            "thumbnail_url": f"/media/s1/thumb/{PHOTO}",
            "full_url": f"/media/s2/{PHOTO}",
        },
        {
            "id": SKETCH,
            "width": 10,
            "height": 20,
            "thumbnail_url": f"/media/s3/thumb/{SKETCH}",
            "full_url": "/media/s4/x",
        },
    ]
    assert message_json(message)["attachments"] == expected
    assert room.frames[-1]["type"] == "message" and room.frames[-1]["attachments"] == expected
    page, _ = await messages.history(room.alice, "lobby")
    assert message_json(page[-1])["attachments"] == expected
    # A retry with the same client_id returns the first message.
    again, created = await messages.send(room.alice, "lobby", "pictures", "c1", [PHOTO, SKETCH])
    assert not created and again.id == message.id


async def test_an_unknown_upload_is_refused_and_nothing_is_stored(room: Room) -> None:
    messages = room.services.messages
    # A well-formed id that names no upload: not found (404), as the API document says.
    with pytest.raises(NotFound) as refused:
        await messages.send(room.alice, "lobby", "ghost", attachments=[PHOTO, "c" * 64])
    assert refused.value.reason == "unknown_attachment"
    assert "c" * 64 in refused.value.detail
    page, _ = await messages.history(room.alice, "lobby")
    assert page == [] and room.frames == []


async def test_messages_without_attachments_do_not_ask_media(room: Room) -> None:
    await room.services.messages.send(room.alice, "lobby", "just text")
    await room.settle()
    assert room.media.described == [] and room.media.asked == []


# link previews


async def test_previews_arrive_after_the_message_as_an_event(room: Room) -> None:
    room.media.gate.clear()  # media is slow: the send must not wait for it
    messages = room.services.messages
    text = "read https://a.example/x and https://b.example/y."
    message, _ = await asyncio.wait_for(messages.send(room.alice, "lobby", text, "c1"), 1)
    assert message.previews == ()
    assert [f["type"] for f in room.frames] == ["message"]
    room.media.gate.set()
    (updated,) = await room.updates(1)
    assert updated["target"] == message.id and updated["seq"] == message.seq + 1
    assert updated["previews"] == [
        {
            "url": "https://a.example/x",
            "title": "title of https://a.example/x",
            "description": "about",
            "image": "/media/sig/200x200/19",
        },
        {
            "url": "https://b.example/y",
            "title": "title of https://b.example/y",
            "description": "about",
            "image": "/media/sig/200x200/19",
        },
    ]
    assert room.media.asked == [("https://a.example/x", "https://b.example/y")]
    page, _ = await messages.history(room.alice, "lobby")
    assert message_json(page[-1])["previews"] == updated["previews"]


async def test_a_failing_page_gives_no_preview_and_no_frame(room: Room) -> None:
    room.media.failing = {"https://down.example/"}
    await room.services.messages.send(room.alice, "lobby", "https://down.example/ is down")
    await room.settle()
    assert room.media.asked == [("https://down.example/",)]
    assert room.updated == []
    # Some pages failing, others not: only the good ones.
    await room.services.messages.send(
        room.alice, "lobby", "https://down.example/ vs https://up.example/"
    )
    (updated,) = await room.updates(1)
    assert [p["url"] for p in updated["previews"]] == ["https://up.example/"]


async def test_a_media_error_reaches_nobody(room: Room) -> None:
    async def broken(urls: Sequence[str]) -> Sequence[Any]:
        raise RuntimeError("media exploded")

    room.media.link_previews = broken  # type: ignore[method-assign]
    message, _ = await room.services.messages.send(room.alice, "lobby", "https://a.example/")
    await room.settle()
    assert room.updated == []
    assert [f["type"] for f in room.frames] == ["message"] and message.id


async def test_an_edit_that_changes_the_links_gets_new_previews(room: Room) -> None:
    messages = room.services.messages
    message, _ = await messages.send(room.alice, "lobby", "see https://a.example/")
    await room.updates(1)
    # Same links, other words: no new request.
    await messages.edit(room.alice, "lobby", message.id, "look at https://a.example/")
    await room.settle()
    assert len(room.media.asked) == 1 and len(room.updated) == 1
    page, _ = await messages.history(room.alice, "lobby")
    assert page[-1].previews[0]["url"] == "https://a.example/"  # kept by the edit
    # Other links: previews follow.
    await messages.edit(room.alice, "lobby", message.id, "no, https://b.example/")
    frames = await room.updates(2)
    assert [p["url"] for p in frames[-1]["previews"]] == ["https://b.example/"]
    # No links left: the previews go.
    await messages.edit(room.alice, "lobby", message.id, "never mind")
    frames = await room.updates(3)
    assert frames[-1]["previews"] == []
    assert room.media.asked == [("https://a.example/",), ("https://b.example/",)]


async def test_an_answer_for_an_edited_away_text_is_dropped(room: Room) -> None:
    messages = room.services.messages
    room.media.gate.clear()
    message, _ = await messages.send(room.alice, "lobby", "https://old.example/")
    await messages.edit(room.alice, "lobby", message.id, "https://new.example/")
    room.media.gate.set()
    frames = await room.updates(1)  # one set of previews, for the new text
    await room.settle()
    assert len(room.updated) == 1
    assert [p["url"] for p in frames[-1]["previews"]] == ["https://new.example/"]
    page, _ = await messages.history(room.alice, "lobby")
    assert [p["url"] for p in page[-1].previews] == ["https://new.example/"]


async def test_a_message_deleted_before_its_previews_stays_blank(room: Room) -> None:
    messages = room.services.messages
    room.media.gate.clear()
    message, _ = await messages.send(room.alice, "lobby", "https://a.example/")
    await messages.delete(room.alice, "lobby", message.id)
    room.media.gate.set()
    await room.settle()
    assert room.updated == []
    page, _ = await messages.history(room.alice, "lobby")
    assert page[-1].deleted and page[-1].previews == ()


async def test_close_cancels_pending_previews(room: Room) -> None:
    room.media.gate.clear()
    await room.services.messages.send(room.alice, "lobby", "https://a.example/")
    await until(lambda: room.media.asked, 5, "the preview asked for")
    await asyncio.wait_for(room.services.messages.aclose(), 1)
    room.media.gate.set()
    await room.settle()
    assert room.updated == []


# without media in this process


async def test_without_media_links_are_simply_not_previewed() -> None:
    store = MemoryChatStore()
    services = build_chat_services(store, InProcessBus(), ChatConfig(hash_params=FAST))
    try:
        await services.accounts.register("alice", "password-alice")
        token = await services.accounts.sign_in("alice", "password-alice", "test")
        alice = await services.accounts.authenticate(token.token)
        await services.rooms.create(alice, "lobby")
        message, _ = await services.messages.send(alice, "lobby", "https://a.example/")
        assert message.previews == ()
        await services.messages.aclose()
    finally:
        await store.close()
