"""The `confab` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from confab.core.errors import ConfabError, InvalidInput
from confab.core.logging import configure_logging
from confab.core.settings import Settings
from confab.media.batch.parser import add_thumbs_parser

if TYPE_CHECKING:
    from confab.media.batch.runtime import BatchRuntime


def _node_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (CONFAB_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (CONFAB_PORT)")
    parser.add_argument("--data", dest="data_dir", type=Path, help="data dir (CONFAB_DATA_DIR)")
    parser.add_argument(
        "--processes",
        dest="http_processes",
        type=_positive_int,
        metavar="N",
        help="processes serving HTTP (CONFAB_HTTP_PROCESSES, default 1)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="confab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run every role in one process with embedded backends")
    _node_flags(up)
    serve = sub.add_parser("serve", help="run a node with the roles named")
    _node_flags(serve)
    serve.add_argument("--roles", help="comma-separated roles: chat, media (CONFAB_ROLES)")
    migrate = sub.add_parser("migrate", help="apply the database schema migrations")
    migrate.add_argument("--database-url", help="the database to migrate (CONFAB_DATABASE_URL)")
    migrate.add_argument("--data", dest="data_dir", type=Path, help="data dir (CONFAB_DATA_DIR)")
    add_thumbs_parser(sub)
    worker = sub.add_parser("worker", help="run a Celery worker for media jobs (CONFAB_JOBS_URL)")
    worker.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="worker processes (default: CONFAB_MEDIA_RENDER_PROCESSES, or one per core)",
    )
    worker.add_argument(
        "--autoscale",
        type=_autoscale,
        metavar="MAX,MIN",
        help="grow the pool to MAX processes under load, shrink to MIN when idle (Celery's "
        "autoscaler; overrides --concurrency)",
    )
    worker.add_argument(
        "--ping",
        action="store_true",
        help="health probe: exit 0 if a worker on this host answers through the broker, else 1",
    )
    worker.add_argument(
        "--jobs-url", metavar="URL", help="broker: redis://... or amqp://... (CONFAB_JOBS_URL)"
    )
    return parser


def _autoscale(text: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not MAX,MIN")
    high, low = (_positive_int(part.strip()) for part in parts)
    if low > high:
        raise argparse.ArgumentTypeError(f"{text!r}: MIN is above MAX")
    return high, low


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _run_worker(args: argparse.Namespace) -> int:
    from confab.bootstrap.worker import ping_worker, run_worker

    settings = Settings(**_overrides(args, ["jobs_url"]))
    configure_logging(settings.log_level, settings.log_json)
    try:
        if args.ping:
            answered = ping_worker(settings)
            print(", ".join(answered) if answered else "no worker on this host answered")
            return 0 if answered else 1
        return run_worker(settings, args.concurrency, args.autoscale)
    except ConfabError as exc:  # a bad CONFAB_JOBS_URL or blobs URL: say so, no traceback
        print(f"confab worker: cannot start: {exc.detail or exc.reason}", file=sys.stderr)
        return 2


def _overrides(args: argparse.Namespace, keys: Sequence[str]) -> dict[str, Any]:
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _run_node(settings: Settings) -> int:
    from confab.bootstrap import run_node

    configure_logging(settings.log_level, settings.log_json)
    try:
        return run_node(settings)
    except ConfabError as exc:  # e.g. a database schema behind the code: say so, no traceback
        print(f"confab: cannot start: {exc.detail or exc.reason}", file=sys.stderr)
        return 1


def _without_password(url: str) -> str:
    """`url` safe to print: its password, if any, masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _run_migrate(settings: Settings) -> int:
    # Imported on use, like the node: a usage error never pays for loading the adapters.
    from confab.bootstrap.chat import migrate_database

    # The command says what happened itself; the adapters' warnings would only repeat it.
    configure_logging("ERROR", settings.log_json)
    shown = _without_password(settings.resolved_database_url())
    try:
        before, after = asyncio.run(migrate_database(settings))
    except ConfabError as exc:  # unreachable, refused, or a schema newer than this code
        print(f"confab: cannot migrate {shown}: {exc.detail or exc.reason}", file=sys.stderr)
        return 2 if isinstance(exc, InvalidInput) else 1
    if before == after:
        print(f"confab: {shown} is at {after}: nothing to do")
    else:
        print(f"confab: migrated {shown} from {before or 'an empty schema'} to {after}")
    return 0


def _batch_runtime(settings: Settings) -> BatchRuntime:
    # Imported on use: a usage error never pays for loading the adapters.
    from confab.bootstrap import build_batch_runtime

    return build_batch_runtime(settings)


def _run_thumbs(args: argparse.Namespace) -> int:
    # Imported on use: the batch pipeline and rich are resident in every process that
    # imports them, and no node runs them.
    from confab.media.batch.command import run_thumbs

    return run_thumbs(args, _batch_runtime)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `confab` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            settings = Settings(**_overrides(args, ["host", "port", "data_dir", "http_processes"]))
            settings = settings.model_copy(update={"roles": ["chat", "media"]})
            return _run_node(settings)
        if args.command == "serve":
            settings = Settings(
                **_overrides(args, ["host", "port", "data_dir", "roles", "http_processes"])
            )
            return _run_node(settings)
        if args.command == "migrate":
            return _run_migrate(Settings(**_overrides(args, ["database_url", "data_dir"])))
        if args.command == "thumbs":
            return _run_thumbs(args)
        if args.command == "worker":
            return _run_worker(args)
    except ValidationError as exc:
        print(f"confab: invalid setting: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
