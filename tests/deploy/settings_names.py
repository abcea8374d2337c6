"""Which `CONFAB_*` environment names are real settings: catches typos in deploy files."""

from __future__ import annotations

from collections.abc import Iterable

from confab.core.settings import Settings

PREFIX = "CONFAB_"


def known_names() -> set[str]:
    """Every environment name Settings reads."""
    prefix = Settings.model_config.get("env_prefix", PREFIX)
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def unknown_names(names: Iterable[str]) -> list[str]:
    """The `CONFAB_*` names in `names` that no setting reads."""
    known = known_names()
    return sorted(name for name in set(names) if name.startswith(PREFIX) and name not in known)
