"""What a web page says about itself, for link previews: title, description and image.

The metadata and its bounds. Reading it from HTML is `pageparse`'s work, done in the job
queue's workers: the process that serves requests never loads the HTML parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Bytes of a page looked at, at most. Metadata sits in <head>, which is rarely larger.
MAX_HEAD_BYTES: Final = 256 * 1024
#: Longer texts are cut (with an ellipsis): a preview is a glance, not the page.
MAX_TITLE: Final = 300
MAX_DESCRIPTION: Final = 1000
MAX_IMAGE_URL: Final = 2048


@dataclass(frozen=True, slots=True)
class PageMeta:
    """A page's title, description and image URL (absolute http(s)); None when absent."""

    title: str | None = None
    description: str | None = None
    image: str | None = None

    @property
    def empty(self) -> bool:
        """Nothing worth showing."""
        return self.title is None and self.description is None and self.image is None
