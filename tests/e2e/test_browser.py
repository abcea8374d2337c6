"""The browser client in a real browser (Debian's chromium via Playwright) on `confab up`.

Two browser contexts are two people: what one types appears in the other, history
survives a reload, images show as thumbnails, and a network loss heals without a
duplicate or a gap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    chromium_browser,
    create_room,
    join_room,
    open_room,
    png,
    screenshot,
    send,
    seqs,
    sign_in,
    sign_up,
    stored,
)
from tests.e2e.server import ServerHandle, confab_server

pytestmark = pytest.mark.e2e

ROOM = "lobby"
# Every console message about the Content-Security-Policy, from every page of the module.
CSP_REPORTS: list[str] = []


def _watch_csp(page: Page) -> None:
    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            CSP_REPORTS.append(message.text)

    page.on("console", seen)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    # The history test seeds 120 messages over HTTP at once: past one user's post limit.
    env = {"CONFAB_CHAT_POST_BURST": "1000"}
    with confab_server(tmp_path_factory.mktemp("browser") / "data", env=env) as handle:
        yield handle


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_browser()


@dataclass
class Person:
    name: str
    context: BrowserContext
    page: Page


@dataclass
class Pair:
    alice: Person
    bob: Person


def _person(browser: Browser, server: ServerHandle, name: str) -> Person:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _watch_csp(page)
    page.on("dialog", lambda dialog: dialog.accept())  # "Delete this message?" and the like
    sign_up(page, server.url, name)
    return Person(name, context, page)


@pytest.fixture(scope="module")
def pair(browser: Browser, server: ServerHandle) -> Iterator[Pair]:
    """Alice creates the room, Bob joins it from the public list."""
    alice = _person(browser, server, "alice")
    screenshot(alice.page, "desktop-welcome")
    create_room(alice.page, ROOM, topic="Everything and nothing")
    bob = _person(browser, server, "bob")
    join_room(bob.page, ROOM)
    try:
        yield Pair(alice, bob)
    finally:
        alice.context.close()
        bob.context.close()


def test_the_client_is_served_at_the_root_with_its_headers(server: ServerHandle) -> None:
    index = httpx.get(f"{server.url}/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/app.js">' in index.text
    assert "default-src 'self'" in index.headers["content-security-policy"]
    assert index.headers["cache-control"] == "no-cache"
    script = httpx.get(f"{server.url}/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert httpx.get(f"{server.url}/app.css").headers["content-type"].startswith("text/css")
    # The API keeps its own answers: the client's catch-all comes after every other route.
    assert httpx.get(f"{server.url}/api/rooms").status_code == 401
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_message_typed_in_one_browser_appears_in_the_other(pair: Pair) -> None:
    alice, bob = pair.alice.page, pair.bob.page
    send(alice, "hello from alice")
    expect(stored(bob, "hello from alice")).to_have_count(1)
    expect(stored(alice, "hello from alice")).to_have_count(1)
    expect(alice.locator("#messages li.pending")).to_have_count(0)
    send(bob, "hi alice, bob here")
    expect(stored(alice, "hi alice, bob here")).to_have_count(1)
    screenshot(alice, "desktop-chat")


def test_a_reload_keeps_the_history(pair: Pair) -> None:
    bob = pair.bob.page
    send(pair.alice.page, "this one must survive a reload")
    expect(stored(bob, "this one must survive a reload")).to_have_count(1)
    bob.reload()
    expect(bob.locator("#conn")).to_have_text("Online")
    expect(bob.locator("#room-name")).to_contain_text(ROOM)  # the room comes back too
    expect(stored(bob, "this one must survive a reload")).to_have_count(1)
    expect(stored(bob, "hello from alice")).to_have_count(1)
    shown = seqs(bob)
    assert shown == sorted(shown) and len(shown) == len(set(shown))


def test_members_presence_and_typing(pair: Pair) -> None:
    alice, bob = pair.alice.page, pair.bob.page
    online = alice.locator("#member-list li.member.online")
    expect(online.filter(has_text="bob")).to_have_count(1)
    expect(online.filter(has_text="alice")).to_have_count(1)
    box = bob.get_by_label("Message", exact=True)
    # The server lets one typing frame through every few seconds: keep typing like a person.
    for _ in range(12):
        box.press_sequentially("typing ", delay=40)
        if alice.locator("#typing").inner_text() == "bob is typing…":
            break
    expect(alice.locator("#typing")).to_have_text("bob is typing…")
    box.fill("typing a thing")
    box.press("Enter")
    expect(stored(alice, "typing a thing")).to_have_count(1)
    expect(alice.locator("#typing")).to_have_text("")


def test_edit_and_delete_reach_the_other_browser(pair: Pair) -> None:
    alice, bob = pair.alice.page, pair.bob.page
    send(alice, "a message with a typo")
    mine = stored(alice, "a message with a typo")
    expect(mine).to_have_count(1)
    mine.hover()
    mine.get_by_role("button", name="Edit message").click()
    editor = alice.get_by_label("Edit your message")
    editor.fill("a message without a typo")
    editor.press("Enter")
    edited = stored(bob, "a message without a typo")
    expect(edited).to_have_count(1)
    expect(edited.locator(".msg-edited")).to_have_text("(edited)")

    # Bob cannot edit or delete Alice's message.
    expect(edited.get_by_role("button", name="Edit message")).to_have_count(0)
    expect(edited.get_by_role("button", name="Delete message")).to_have_count(0)

    gone = stored(alice, "a message without a typo")
    gone.hover()
    gone.get_by_role("button", name="Delete message").click()
    expect(stored(bob, "a message without a typo")).to_have_count(0)
    expect(bob.locator("#messages li.msg.deleted")).to_have_count(1)
    expect(bob.locator("#messages li.msg.deleted")).to_contain_text("This message was deleted.")


def test_grouped_messages_keep_their_time_and_edited_mark(pair: Pair) -> None:
    alice, bob = pair.alice.page, pair.bob.page
    send(alice, "first of a group")
    send(alice, "second of a group")
    second = stored(bob, "second of a group")
    expect(second).to_have_class(re.compile(r"\bcont\b"))  # shown under the first's header
    expect(second.locator(".msg-head")).to_be_hidden()
    expect(second.locator(".gutter-time")).to_be_visible()
    mine = stored(alice, "second of a group")
    mine.hover()
    mine.get_by_role("button", name="Edit message").click()
    editor = alice.get_by_label("Edit your message")
    editor.fill("second of a group, edited")
    editor.press("Enter")
    edited = stored(bob, "second of a group, edited")
    expect(edited.locator(".msg-edited")).to_be_visible()
    expect(edited.locator(".gutter-time")).to_be_visible()
    screenshot(bob, "desktop-grouped")


def test_right_to_left_text_is_laid_out_right_to_left(pair: Pair) -> None:
    alice, bob = pair.alice.page, pair.bob.page
    send(alice, "שלום לכולם, מה שלומכם?")
    text = stored(bob, "שלום").locator(".msg-text")
    expect(text).to_have_count(1)
    assert text.evaluate("el => getComputedStyle(el).direction") == "rtl"
    english = stored(bob, "second of a group").locator(".msg-text")
    assert english.evaluate("el => getComputedStyle(el).direction") == "ltr"


def test_a_long_room_name_keeps_the_badges_on_screen(pair: Pair) -> None:
    alice, bob = pair.alice.page, pair.bob.page
    long_name = "a-room-with-a-very-long-name-that-goes-on-and-on-and-on-forever"
    create_room(bob, long_name)
    join_room(alice, long_name)
    open_room(bob, ROOM)
    send(alice, "in the long room")
    link = bob.locator("#room-list a", has_text=long_name)
    badge = link.locator(".badge")
    expect(badge).to_have_text("1")
    expect(badge).to_be_in_viewport(ratio=1)
    sidebar = bob.locator("#sidebar").bounding_box()
    box = badge.bounding_box()
    assert sidebar and box and box["x"] + box["width"] <= sidebar["x"] + sidebar["width"]
    open_room(alice, ROOM)
    screenshot(bob, "desktop-long-name")
    open_room(bob, long_name)
    open_room(bob, ROOM)


def test_unread_counts_in_the_room_list(pair: Pair) -> None:
    alice, bob = pair.alice.page, pair.bob.page
    create_room(bob, "quiet")
    badge = bob.locator("#room-list a", has_text=ROOM).locator(".badge")
    expect(badge).to_have_count(0)
    send(alice, "unread one")
    send(alice, "unread two")
    expect(badge).to_have_text("2")
    open_room(bob, ROOM)
    expect(badge).to_have_count(0)
    expect(stored(bob, "unread two")).to_have_count(1)


def test_older_history_loads_on_scroll(pair: Pair, server: ServerHandle) -> None:
    alice, bob = pair.alice.page, pair.bob.page
    create_room(alice, "archive")
    token = alice.evaluate("localStorage.getItem('confab.token')")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        for i in range(120):
            response = http.post(
                "/api/rooms/archive/messages", json={"text": f"old message {i:03d}"}
            )
            assert response.status_code == 201, response.text
    alice.reload()
    expect(alice.locator("#room-name")).to_contain_text("archive")
    expect(stored(alice, "old message 119")).to_have_count(1)
    expect(stored(alice, "old message 000")).to_have_count(0)  # one page, not the whole room
    timeline = alice.locator("#timeline")
    for _ in range(20):
        if stored(alice, "old message 000").count():
            break
        timeline.evaluate("el => { el.scrollTop = 0; }")
        alice.wait_for_timeout(300)
    expect(stored(alice, "old message 000")).to_have_count(1)
    expect(alice.locator("#history-status")).to_contain_text("beginning of the room")
    shown = seqs(alice)
    # Seqs number every event (read markers too), so messages' seqs need not be consecutive.
    assert len(shown) == 120 and shown == sorted(set(shown))
    texts = stored(alice).locator(".msg-text").all_inner_texts()
    assert texts == [f"old message {i:03d}" for i in range(120)]
    open_room(alice, ROOM)
    assert bob.locator("#room-name").inner_text().endswith(ROOM)


def test_a_network_loss_heals_without_duplicates_or_gaps(pair: Pair) -> None:
    alice, bob = pair.alice, pair.bob.page
    send(bob, "before the cut")
    expect(stored(alice.page, "before the cut")).to_have_count(1)
    last_seen = max(seqs(alice.page))
    sent: list[dict[str, object]] = []
    alice.page.on(
        "websocket",
        lambda ws: ws.on(
            "framesent", lambda f: sent.append(json.loads(f)) if isinstance(f, str) else None
        ),
    )
    alice.context.set_offline(True)
    # Offline emulation stops new connections; the open socket goes down as after a real cut.
    alice.page.evaluate(
        "window.confab.live.drop(4000); window.confab.live.scheduleRetry(true, 1006)"
    )
    expect(alice.page.locator("#net-banner")).to_be_visible()
    for i in range(5):
        send(bob, f"while away {i}")
    expect(stored(bob, "while away 4")).to_have_count(1)
    # A message Alice writes while offline waits, then goes out once, with its client_id.
    send(alice.page, "written offline")
    expect(alice.page.locator("#messages li.pending", has_text="written offline")).to_have_count(1)
    alice.context.set_offline(False)
    alice.page.evaluate("window.confab.live.reconnectNow()")
    expect(alice.page.locator("#conn")).to_have_text("Online")
    for i in range(5):
        expect(stored(alice.page, f"while away {i}")).to_have_count(1)
    expect(stored(bob, "written offline")).to_have_count(1)
    expect(stored(alice.page, "written offline")).to_have_count(1)
    expect(alice.page.locator("#messages li.pending")).to_have_count(0)
    expect(alice.page.locator("#net-banner")).to_be_hidden()
    # The new socket asked for what came after the last event seen (at least the last
    # message; read markers are events too).
    resumes = [f for f in sent if f.get("type") == "resume" and f.get("room") == ROOM]
    assert resumes and resumes[0]["after"] >= last_seen, resumes
    shown = seqs(alice.page)
    assert shown == sorted(set(shown)), "a duplicate or out of order"
    assert shown == seqs(bob)[-len(shown) :], "a gap"


def test_an_uploaded_image_shows_its_thumbnail(pair: Pair, tmp_path: Path) -> None:
    alice, bob = pair.alice.page, pair.bob.page
    picture = tmp_path / "sunset.png"
    picture.write_bytes(png())
    alice.locator("#file-input").set_input_files(str(picture))
    expect(alice.locator("#pending-files li.done")).to_have_count(1)
    box = alice.get_by_label("Message", exact=True)
    box.fill("look at this")
    box.press("Enter")
    message = stored(bob, "look at this")
    expect(message).to_have_count(1)
    expect(message.locator(".attachment")).to_have_count(1)
    image = message.locator(".attachment img")
    expect(image).to_be_visible()
    image.evaluate(
        "img => img.complete && img.naturalWidth > 0 ? true : new Promise((ok, fail) => {"
        " img.onload = () => ok(true); img.onerror = () => fail(new Error('no thumbnail')); })"
    )
    assert image.evaluate("img => img.naturalWidth") > 0
    assert re.search(r"/media/", image.get_attribute("src") or "")
    screenshot(bob, "desktop-image")


def test_the_client_is_usable_on_a_phone(
    browser: Browser, server: ServerHandle, pair: Pair
) -> None:
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, reduced_motion="reduce"
    )
    try:
        page = context.new_page()
        sign_in(page, server.url, "alice")
        expect(page.locator("#room-name")).to_be_visible()
        # The room list is a drawer behind the menu button.
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        page.get_by_role("button", name="Show rooms").click()
        expect(page.locator("#sidebar")).to_be_in_viewport()
        screenshot(page, "phone-rooms")
        page.locator("#room-list a", has_text=ROOM).click()
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        send(page, "sent from a phone")
        expect(stored(pair.bob.page, "sent from a phone")).to_have_count(1)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the page scrolls sideways on a phone"
        screenshot(page, "phone-chat")
    finally:
        context.close()


def test_sign_out_everywhere_ends_the_other_devices_session(
    browser: Browser, server: ServerHandle
) -> None:
    first = _person(browser, server, "carol")
    second = browser.new_context(viewport=DESKTOP)
    try:
        page = second.new_page()
        _watch_csp(page)
        sign_in(page, server.url, "carol")  # ends with its socket open
        first.page.get_by_role("button", name="Your devices").click()
        devices = first.page.locator("#device-list li")
        expect(devices).to_have_count(2)
        expect(devices.filter(has_text="This device")).to_have_count(1)
        first.page.locator("#sign-out-everywhere").click()
        # Both are signed out: the other one because its socket was closed (4001).
        expect(first.page.locator("#auth")).to_be_visible()
        expect(page.locator("#auth")).to_be_visible()
    finally:
        first.context.close()
        second.close()


def test_the_client_ran_under_its_csp_without_a_violation(server: ServerHandle) -> None:
    """Every page above (sign-in, chat, uploads, devices) ran with the strict policy on."""
    headers = httpx.get(f"{server.url}/").headers
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert CSP_REPORTS == []
