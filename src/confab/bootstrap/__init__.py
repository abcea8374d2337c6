"""The composition root: the only package that knows the concrete classes.

It reads settings and builds the adapters behind each port (`backends`), the services and
routes of each role (`media`, `chat`), and nodes and workers from them (`node`, `worker`).
`chat` is imported only where the chat role runs.
"""

from confab.bootstrap.backends import (
    celery_jobs_config,
    make_blob_store,
    make_bus,
    make_media_jobs,
    shared_blobs,
)
from confab.bootstrap.media import build_batch_runtime, media_security_key, render_limits
from confab.bootstrap.node import Node, assemble, run_node
from confab.bootstrap.worker import run_worker
from confab.core.lifecycle import Closer

__all__ = [
    "Closer",
    "Node",
    "assemble",
    "build_batch_runtime",
    "celery_jobs_config",
    "make_blob_store",
    "make_bus",
    "make_media_jobs",
    "media_security_key",
    "render_limits",
    "run_node",
    "run_worker",
    "shared_blobs",
]
