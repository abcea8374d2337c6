"""Secrets generated on first start and kept in the data dir (mode 0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create_secret(data_dir: Path, name: str, nbytes: int = 32) -> str:
    """Return the secret stored in `data_dir/name`, creating it (0600) if missing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(nbytes)
    # O_EXCL: two processes starting at once agree on one secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value
