"""Conversations in a real browser (Debian's chromium): direct messages, threads, reactions,
mentions and their counts, and a room's moderators at work, all from the UI.

Three people: Ann owns the room `town`, Ben and Cat join it. Each view is kept as a
screenshot (desktop, a 390 px phone, dark mode).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    chromium_browser,
    create_room,
    join_room,
    open_room,
    screenshot,
    send,
    sign_in,
    sign_up,
    stored,
)
from tests.e2e.server import ServerHandle, confab_server

pytestmark = pytest.mark.e2e

ROOM = "town"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with confab_server(tmp_path_factory.mktemp("conversations") / "data") as handle:
        yield handle


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_browser()


@dataclass
class People:
    ann: Page
    ben: Page
    cat: Page
    contexts: list[BrowserContext]


def _person(browser: Browser, server: ServerHandle, name: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() of kick, ban, delete
    sign_up(page, server.url, name)
    return context, page


@pytest.fixture(scope="module")
def people(browser: Browser, server: ServerHandle) -> Iterator[People]:
    made = [_person(browser, server, name) for name in ("ann", "ben", "cat")]
    ann, ben, cat = (page for _, page in made)
    create_room(ann, ROOM, topic="Everything in town")
    join_room(ben, ROOM)
    join_room(cat, ROOM)
    try:
        yield People(ann, ben, cat, [context for context, _ in made])
    finally:
        for context in (c for c, _ in made):
            context.close()


def said(page: Page, text: str) -> Locator:
    """The stored message whose own text has `text` (not one quoting it)."""
    return stored(page).filter(has=page.locator(".msg-text", has_text=text))


def room_link(page: Page, text: str) -> Locator:
    return page.locator("#room-list a, #dm-list a").filter(has_text=text)


def message_action(item: Locator, name: str) -> None:
    item.hover()
    item.get_by_role("button", name=name, exact=True).click()


def member_action(page: Page, user: str, action: str) -> None:
    if not page.locator("#members").is_visible():
        page.locator("#toggle-members").click()
    page.get_by_label(f"Actions for {user}").click()
    page.locator("#member-list li", has_text=user).get_by_role("button", name=action).click()


def test_a_direct_message_arrives_live_with_its_mention_count(people: People) -> None:
    ann, ben = people.ann, people.ben
    ann.get_by_role("button", name="New direct message").click()
    ann.get_by_label("With", exact=True).fill("ben")
    ann.locator("#dm-dialog").get_by_role("button", name="Open").click()
    expect(ann.locator("#room-name")).to_contain_text("ben")
    send(ann, "hello @ben, a word in private")
    expect(said(ann, "a word in private")).to_have_count(1)
    # Ben was in `town`: the conversation appears in his list without a reload.
    dm = ben.locator("#dm-list a", has_text="ann")
    expect(dm).to_have_count(1)
    expect(dm.locator(".badge-mention")).to_have_text("@1")
    expect(dm.locator(".badge:not(.badge-mention)")).to_have_text("1")
    screenshot(ben, "desktop-dm-unread")
    dm.click()
    message = said(ben, "a word in private")
    expect(message.locator(".mention-me")).to_have_text("@ben")
    expect(dm.locator(".badge")).to_have_count(0)
    # Opening the same people again is the same conversation.
    ben.get_by_role("button", name="New direct message").click()
    ben.get_by_label("With", exact=True).fill("@ann")
    ben.locator("#dm-dialog").get_by_role("button", name="Open").click()
    expect(ben.locator("#dm-list a")).to_have_count(1)
    expect(said(ben, "a word in private")).to_have_count(1)


def test_a_reply_in_a_thread_shows_on_the_root_and_in_the_thread(people: People) -> None:
    ann, ben = people.ann, people.ben
    root = said(ben, "a word in private")
    message_action(root, "Reply in thread")
    thread = ben.locator("#thread")
    expect(thread).to_be_visible()
    expect(thread.locator("li.msg")).to_have_count(1)
    box = ben.get_by_role("textbox", name="Reply in thread")
    box.fill("answering in the thread, @ann")
    box.press("Enter")
    expect(thread.locator("li.msg", has_text="answering in the thread")).to_have_count(1)
    # Ann sees the reply in the timeline with a quote, and the root counts it.
    reply = said(ann, "answering in the thread")
    expect(reply).to_have_count(1)
    expect(reply.locator(".msg-quote")).to_contain_text("a word in private")
    expect(reply.locator(".mention-me")).to_have_text("@ann")
    summary = said(ann, "a word in private").locator(".thread-summary")
    expect(summary).to_contain_text("1 reply")
    expect(summary).to_contain_text("last reply")
    summary.click()
    expect(ann.locator("#thread li.msg")).to_have_count(2)
    screenshot(ann, "desktop-thread")
    ann.keyboard.press("Escape")  # closes the thread, back to the composer
    expect(ann.locator("#thread")).to_be_hidden()
    summary.click()
    # A reply from the main composer quotes its parent too.
    message_action(said(ann, "answering in the thread"), "Reply")
    expect(ann.locator("#reply-bar")).to_be_visible()
    send(ann, "a reply from the composer")
    expect(said(ben, "a reply from the composer").locator(".msg-quote")).to_contain_text(
        "answering in the thread"
    )
    ann.get_by_role("button", name="Close the thread").click()


def test_reactions_show_counts_and_who_reacted(people: People) -> None:
    ann, ben = people.ann, people.ben
    message_action(said(ann, "answering in the thread"), "Add reaction")
    ann.get_by_role("button", name="React with 👍").click()
    mine = said(ben, "answering in the thread").locator(".reaction", has_text="👍")
    expect(mine).to_contain_text("1")
    expect(mine).to_have_attribute("title", "ann")
    mine.click()  # Ben adds his
    expect(
        said(ann, "answering in the thread").locator(".reaction", has_text="👍")
    ).to_contain_text("2")
    expect(mine).to_have_attribute("aria-pressed", "true")
    # Any emoji, typed.
    message_action(said(ben, "answering in the thread"), "Add reaction")
    ben.get_by_label("Any emoji", exact=True).fill("🦄")
    ben.locator("#react-dialog").get_by_role("button", name="Add").click()
    unicorn = said(ann, "answering in the thread").locator(".reaction", has_text="🦄")
    expect(unicorn).to_contain_text("1")
    expect(unicorn).to_have_attribute("title", "ben")
    # Taking one back.
    mine.click()
    expect(
        said(ann, "answering in the thread").locator(".reaction", has_text="👍")
    ).to_contain_text("1")
    screenshot(ann, "desktop-reactions")


def test_a_mention_elsewhere_counts_in_the_room_list(people: People) -> None:
    ann, ben = people.ann, people.ben
    open_room(ben, ROOM)
    # @-completion of the room's members, from the keyboard.
    box = ben.get_by_label("Message", exact=True)
    box.press_sequentially("@an")
    expect(ben.locator("#mention-menu li")).to_have_text(["@ann"])
    box.press("Enter")
    expect(box).to_have_value("@ann ")
    box.press_sequentially("can you look at this?")
    box.press("Enter")
    send(ben, "and this, no mention")
    link = room_link(ann, ROOM)
    expect(link.locator(".badge-mention")).to_have_text("@1")
    expect(link.locator(".badge:not(.badge-mention)")).to_have_text("2")
    screenshot(ann, "desktop-mention-count")
    open_room(ann, ROOM)
    expect(ann.locator("#messages .divider")).to_have_count(1)
    expect(link.locator(".badge")).to_have_count(0)
    expect(said(ann, "can you look at this").locator(".mention-me")).to_have_text("@ann")
    expect(ann.locator("li.msg.mentions-me", has_text="can you look at this")).to_have_count(1)


def test_an_invitation_to_a_private_room_arrives_live(people: People) -> None:
    ann, ben, cat = people.ann, people.ben, people.cat
    ann.locator("#new-room").click()
    dialog = ann.locator("#create-dialog")
    dialog.get_by_label("Name").fill("backroom")
    dialog.get_by_role("checkbox").check()
    dialog.get_by_role("button", name="Create room").click()
    expect(ann.locator("#room-name")).to_contain_text("backroom")
    ann.get_by_label("Add someone").fill("cat")
    ann.locator("#invite-form").get_by_role("button", name="Add").click()
    expect(room_link(cat, "backroom")).to_have_count(1)  # no reload, no poll
    expect(room_link(ben, "backroom")).to_have_count(0)
    ben.locator("#browse-rooms").click()
    expect(ben.locator("#browse-list")).not_to_contain_text("backroom")
    ben.locator("#browse-dialog").get_by_role("button", name="Close").click()
    open_room(ann, ROOM)


# Records notifications as <output> elements instead of showing them, with the tab hidden
# (headless chromium has no notification centre and its tab is always visible).
NOTIFICATION_STUB = """
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) {
    const note = document.createElement("output");
    note.className = "test-notification";
    note.hidden = true;
    note.textContent = `${title}: ${options.body}`;
    document.body.append(note);
  }
  close() {}
};
Object.defineProperty(Document.prototype, "visibilityState", { get: () => "hidden" });
"""


def test_a_desktop_notification_follows_the_room_level(people: People) -> None:
    ben, cat = people.ben, people.cat
    people.contexts[2].add_init_script(NOTIFICATION_STUB)
    cat.reload()
    expect(cat.locator("#conn")).to_have_text("Online")
    open_room(cat, ROOM)
    cat.get_by_role("button", name="Room settings").click()
    cat.get_by_label("Notify me of").select_option("mentions")
    cat.locator("#settings-dialog").get_by_role("button", name="Save").click()
    expect(cat.locator("#settings-dialog")).to_be_hidden()
    send(ben, "nothing for cat in this one")
    send(ben, "@cat a ping for you")
    # Events come in order: once the ping is notified, the plain message was passed over.
    notes = cat.locator("output.test-notification")
    expect(notes).to_have_text([f"ben in {ROOM}: @cat a ping for you"])


def test_moderators_act_from_the_ui(people: People) -> None:
    ann, ben, cat = people.ann, people.ben, people.cat
    open_room(ann, ROOM)
    # The owner makes Ben a moderator.
    member_action(ann, "ben", "Make moderator")
    expect(ann.locator("#member-list li", has_text="ben").locator(".tag")).to_have_text("moderator")
    screenshot(ann, "desktop-members")
    # Ben, now a moderator, sets the topic and the title.
    open_room(ben, ROOM)
    ben.get_by_role("button", name="Room settings").click()
    ben.locator("#settings-dialog").get_by_label("Topic", exact=True).fill("Moderated by Ben")
    ben.locator("#settings-dialog").get_by_label("Title", exact=True).fill("Town square")
    screenshot(ben, "desktop-settings")
    ben.locator("#settings-dialog").get_by_role("button", name="Save").click()
    expect(ann.locator("#room-topic")).to_have_text("Moderated by Ben")
    expect(ann.locator("#room-name")).to_contain_text("Town square")
    expect(room_link(cat, "Town square")).to_have_count(1)
    # Ben kicks Cat: the room leaves Cat's list at once.
    member_action(ben, "cat", "Remove from room")
    expect(room_link(cat, "Town square")).to_have_count(0)
    expect(cat.locator("#toast")).to_have_text("You were removed from Town square.")
    expect(ben.locator("#member-list li", has_text="cat")).to_have_count(0)
    # Cat comes back; Ann bans her, then lifts the ban.
    cat.locator("#browse-rooms").click()
    cat.get_by_role("button", name=f"Join {ROOM}").click()
    expect(room_link(cat, "Town square")).to_have_count(1)
    expect(ann.locator("#member-list li", has_text="cat")).to_have_count(1)
    member_action(ann, "cat", "Ban")
    expect(room_link(cat, "Town square")).to_have_count(0)
    unban = ann.get_by_role("button", name="Unban cat")
    expect(unban).to_be_visible()
    unban.click()
    expect(unban).to_have_count(0)
    # Ann hands the room over to Ben, then leaves it; Ben deletes it.
    member_action(ann, "ben", "Make owner")
    expect(ann.locator("#member-list li", has_text="ben").locator(".tag")).to_have_text("owner")
    leave = ann.get_by_role("button", name="Leave this room")
    expect(leave).to_be_visible()
    leave.click()
    expect(room_link(ann, "Town square")).to_have_count(0)
    ben.get_by_role("button", name="Room settings").click()
    ben.get_by_role("button", name="Delete room").click()
    expect(room_link(ben, "Town square")).to_have_count(0)


def test_the_new_views_on_a_phone_in_dark_mode(
    browser: Browser, server: ServerHandle, people: People
) -> None:
    # Reduced motion: the drawers open without a transition, so screenshots show them whole.
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="dark", reduced_motion="reduce"
    )
    desktop = people.ben
    create_room(desktop, "quiet")  # Ben's desktop looks elsewhere
    people.ann.locator("#dm-list a", has_text="ben").click()
    expect(people.ann.locator("#room-name")).to_contain_text("ben")
    send(people.ann, "are you there?")
    desktop_dm = desktop.locator("#dm-list a", has_text="ann")
    expect(desktop_dm.locator(".badge")).to_have_text("1")
    try:
        page = context.new_page()
        sign_in(page, server.url, "ben")
        page.get_by_role("button", name="Show rooms").click()
        expect(page.locator("#dm-list a", has_text="ann")).to_be_in_viewport()
        screenshot(page, "phone-dark-rooms")
        page.locator("#dm-list a", has_text="ann").click()
        root = said(page, "a word in private")
        expect(root).to_be_visible()
        expect(page.locator("#messages .divider + li.msg")).to_contain_text("are you there?")
        # Read on the phone: the desktop's count goes too (a read marker of the same user).
        expect(desktop_dm.locator(".badge")).to_have_count(0)
        screenshot(page, "phone-dark-dm")
        root.locator(".thread-summary").click()
        expect(page.locator("#thread")).to_be_in_viewport()
        # The root, the reply in the thread and the reply to that reply (same thread).
        expect(page.locator("#thread li.msg")).to_have_count(3)
        screenshot(page, "phone-dark-thread")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    finally:
        context.close()
