"""Process-wide libvips settings: which loaders run, the operation cache, threads.

libvips keeps these globally, so they are set once per worker process (`configure`, run
by the pool's initializer). `ensure_loaders` re-applies the loader policy when a render
arrives in a process that was not configured (the inline job queue used by tests) or with
other `extra_loaders`, so the policy never depends on how the task was started.
"""

from __future__ import annotations

import logging

import pyvips

log = logging.getLogger("confab.media.imaging")

# Always enabled: the web's image formats. Names are libvips class names; a block or
# unblock applies to the class and every subclass (file, buffer and source loaders).
BASE_LOADERS: dict[str, tuple[str, ...]] = {
    "jpeg": ("VipsForeignLoadJpeg",),
    "png": ("VipsForeignLoadPng",),
    "webp": ("VipsForeignLoadWebp",),
    "gif": ("VipsForeignLoadNsgif", "VipsForeignLoadGif"),
    "heif": ("VipsForeignLoadHeif",),
    "avif": ("VipsForeignLoadHeif",),
}

# Enabled only when named in `extra_loaders` (CONFAB_MEDIA_EXTRA_LOADERS).
EXTRA_LOADERS: dict[str, tuple[str, ...]] = {
    "tiff": ("VipsForeignLoadTiff",),
    "svg": ("VipsForeignLoadSvg",),
    "pdf": ("VipsForeignLoadPdf",),
    "jxl": ("VipsForeignLoadJxl",),
    "jp2k": ("VipsForeignLoadJp2k",),
    "uhdr": ("VipsForeignLoadUhdr",),
    "magick": ("VipsForeignLoadMagick",),
}

_applied_loaders: tuple[str, ...] | None = None


def allowed_formats(extra_loaders: tuple[str, ...]) -> frozenset[str]:
    """The source formats a render accepts with these extra loaders."""
    return frozenset(BASE_LOADERS) | {name for name in extra_loaders if name in EXTRA_LOADERS}


def configure(cache_max_ops: int, extra_loaders: tuple[str, ...]) -> None:
    """Set up libvips for a worker process (call once, before any render).

    - One libvips thread per process: the pool already runs one worker per core, and
      extra vips threads would only contend with the other workers (and cost CPU in
      hand-offs) for a small image that one thread finishes fastest.
    - The operation cache: 0 turns it off. Every request renders a different image (the
      result cache in front of the pool answers repeats), so cached operations would
      never hit and would only pin decoded pixels and open files in memory. A positive
      value bounds it to that many operations and 64 MiB.
    - Only the loaders we need (plus the extras named); libvips' untrusted operations
      stay blocked.
    """
    pyvips.concurrency_set(1)
    if cache_max_ops <= 0:
        pyvips.cache_set_max(0)
        pyvips.cache_set_max_mem(0)
        pyvips.cache_set_max_files(0)
    else:
        pyvips.cache_set_max(cache_max_ops)
        pyvips.cache_set_max_mem(64 * 1024 * 1024)
        pyvips.cache_set_max_files(min(cache_max_ops, 32))
    apply_loader_policy(extra_loaders)


def ensure_loaders(extra_loaders: tuple[str, ...]) -> None:
    """Apply the loader policy if this process has not applied this one yet."""
    if _applied_loaders != extra_loaders:
        apply_loader_policy(extra_loaders)


def apply_loader_policy(extra_loaders: tuple[str, ...]) -> None:
    """Block untrusted operations and every loader, then unblock ours and the extras.

    An extra loader named in the settings is enabled even when libvips marks it untrusted
    (svgload is, in recent libvips): naming it is the operator's explicit opt-in.
    """
    global _applied_loaders
    unknown = [name for name in extra_loaders if name not in EXTRA_LOADERS]
    if unknown:
        log.warning("ignoring unknown extra loaders %s", ", ".join(unknown))
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for name in (*BASE_LOADERS, *extra_loaders):
        for class_name in {**BASE_LOADERS, **EXTRA_LOADERS}.get(name, ()):
            pyvips.operation_block_set(class_name, False)
    _applied_loaders = extra_loaders
