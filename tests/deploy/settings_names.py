"""Which `CONFAB_*` environment names are real settings: catches typos in deploy files."""

from __future__ import annotations

from collections.abc import Iterable

from confab.core.settings import Settings

PREFIX = "CONFAB_"

# Names the deploy files use that issue 4's other branches add to Settings. Accepted only
# while Settings lacks them; once merged they are checked like every other name.
PENDING = {
    "CONFAB_MEDIA_URL": "where chat reaches media over HTTP (issue 4, roles branch)",
}


def known_names() -> set[str]:
    """Every environment name Settings reads."""
    prefix = Settings.model_config.get("env_prefix", PREFIX)
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def unknown_names(names: Iterable[str]) -> list[str]:
    """The `CONFAB_*` names in `names` that no setting reads (pending ones excepted)."""
    known = known_names()
    return sorted(
        name
        for name in set(names)
        if name.startswith(PREFIX) and name not in known and name not in PENDING
    )


def pending_missing() -> list[str]:
    """Pending names Settings still lacks."""
    return sorted(set(PENDING) - known_names())
