"""Helpers for driving the browser client with Playwright and Debian's chromium."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, Playwright, expect, sync_playwright

from tests.conftest import skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def launch(playwright: Playwright) -> Browser:
    """Chromium from the system (no browser download)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)


ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts" / "screenshots"
_announced: set[Path] = set()


def chromium_browser() -> Iterator[Browser]:
    """Debian's chromium under Playwright for a test module (skipped, or failed under CI,
    when it is missing), closed at the end."""
    if not CHROMIUM.exists():
        skip_or_fail(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        expect.set_options(timeout=15_000)
        try:
            yield chromium
        finally:
            chromium.close()


def screenshot(page: Page, name: str) -> Path:
    """Keep a screenshot of a view as a test artefact (git-ignored; the folder is printed).

    The folder is CONFAB_SCREENSHOTS if set, else tests/.artifacts/screenshots.
    """
    folder = Path(os.environ.get("CONFAB_SCREENSHOTS") or ARTIFACTS)
    folder.mkdir(parents=True, exist_ok=True)
    if folder not in _announced:
        _announced.add(folder)
        print(f"\nscreenshots: {folder}")
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def sign_up(page: Page, base: str, username: str) -> None:
    """Create an account from the sign-in screen; ends signed in with the socket open."""
    page.goto(f"{base}/")
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#conn")).to_have_text("Online")


def sign_in(page: Page, base: str, username: str) -> None:
    """Sign in an existing account."""
    page.goto(f"{base}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#conn")).to_have_text("Online")


def create_room(page: Page, name: str, topic: str = "") -> None:
    """Create a public room and open it."""
    page.locator("#new-room").click()
    dialog = page.locator("#create-dialog")
    dialog.get_by_label("Name").fill(name)
    if topic:
        dialog.get_by_label("Topic").fill(topic)
    dialog.get_by_role("button", name="Create room").click()
    expect(page.locator("#room-name")).to_contain_text(name)
    expect(dialog).to_be_hidden()


def join_room(page: Page, name: str) -> None:
    """Join a public room from the directory and open it."""
    page.locator("#browse-rooms").click()
    page.get_by_role("button", name=f"Join {name}").click()
    expect(page.locator("#room-name")).to_contain_text(name)


def open_room(page: Page, name: str) -> None:
    """Open a room from the room list."""
    page.locator("#room-list a", has_text=name).click()
    expect(page.locator("#room-name")).to_contain_text(name)


def send(page: Page, text: str) -> None:
    """Type a message and press Enter."""
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def stored(page: Page, text: str | None = None) -> Locator:
    """Stored (not pending) messages of the open room, optionally only those with `text`."""
    items = page.locator("#messages li.msg:not(.pending)")
    return items.filter(has_text=text) if text is not None else items


def seqs(page: Page) -> list[int]:
    """The seqs of the messages shown, in page order."""
    values: list[str] = page.locator("#messages li.msg[data-seq]").evaluate_all(
        "els => els.map(e => e.dataset.seq)"
    )
    return [int(v) for v in values]


def png(width: int = 96, height: int = 64) -> bytes:
    """A small RGB gradient PNG, written by hand (no image library needed)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
