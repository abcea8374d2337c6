"""Settings from `CONFAB_*` environment variables, overridable by CLI flags.

Build them with `Settings(**overrides)`: keyword arguments win over the environment.
Nothing is read at import time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Role = Literal["chat", "media"]
ALL_ROLES: tuple[Role, ...] = ("chat", "media")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of a Confab node. Defaults give the embedded single-process system."""

    model_config = SettingsConfigDict(env_prefix="CONFAB_", extra="ignore")

    # node
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("confab-data")
    roles: Annotated[list[Role], NoDecode] = Field(default_factory=lambda: list(ALL_ROLES))
    log_level: str = "INFO"
    log_json: bool = True
    shutdown_grace_seconds: float = Field(default=20.0, gt=0)
    http_processes: int = Field(default=1, ge=1, description="processes serving HTTP")
    # Set by the node's supervisor in the processes it starts (not operator settings):
    # listen with SO_REUSEPORT on the port the supervisor reserved; serve this process's
    # metrics on <http_metrics_dir>/<http_process_slot>.sock (the node's /metrics gathers
    # them); write a line to the file descriptor http_ready_fd once listening.
    http_reuse_port: bool = False
    http_metrics_dir: Path | None = None
    http_process_slot: int = Field(default=0, ge=0)
    http_ready_fd: int | None = Field(default=None, ge=0)
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (the load balancer).
    # Empty: none, every client is the address that connected.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # /metrics: on a port of its own (bound to metrics_host) when set; else on the public
    # port, answered only to the peers of metrics_allow (404 to anyone else).
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"]
    )

    # ports (None: the embedded default under data_dir)
    database_url: str | None = None
    bus_url: str = "memory://"
    jobs_url: str = "local://"
    blobs_url: str | None = None

    # job queue on Celery (CONFAB_JOBS_URL redis://... or amqp://...)
    jobs_result_url: str | None = Field(
        default=None, description="Celery result backend; None: the Redis broker, or rpc://"
    )
    # "celery": Celery's default, the Redis list deploy/k8s's KEDA ScaledObject watches.
    jobs_queue: str = Field(default="celery", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    jobs_queue_wait_seconds: float = Field(
        default=60.0, gt=0, description="a job no worker starts by then expires unrun"
    )
    # Redis broker: the job of a worker that died (kill -9, lost machine) comes back after
    # this. It must outlast the longest job (renders stop at media_render_timeout_seconds
    # + 2 s) or a slow job runs twice, and stay under jobs_queue_wait_seconds or the job
    # comes back expired: callers would wait in vain.
    jobs_visibility_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Redis broker: a lost worker's job comes back then"
    )
    jobs_max_retries: int = Field(default=3, ge=0, description="for transient failures")

    # database (postgresql:// URLs are served by asyncpg, sqlite:// by the sqlite3 module)
    database_pool_size: int = Field(default=10, ge=1, description="connections per node")
    database_sqlite_synchronous: Literal["NORMAL", "FULL"] = "FULL"

    # chat
    chat_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=1)
    # Origins whose pages may open /ws (e.g. https://chat.example.org); empty: the node's host.
    chat_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    chat_ws_ticket_ttl_seconds: float = Field(
        default=30.0, gt=0, le=300, description="a /ws?ticket= is good this long, once"
    )
    chat_ws_max_per_user: int = Field(
        default=20, ge=1, description="WebSockets per user on one node; more: close 4029"
    )
    chat_signin_attempts: int = Field(default=10, ge=1, description="per username+address")
    chat_signin_address_attempts: int = Field(
        default=30, ge=1, description="per client address, whatever the usernames"
    )
    chat_signin_window_seconds: float = Field(default=60.0, gt=0)
    chat_register_per_hour: int = Field(default=30, ge=1, description="per client address")
    chat_register_burst: int = Field(default=10, ge=1)
    chat_post_rate: float = Field(default=5.0, gt=0, description="HTTP writes/s per user")
    chat_post_burst: float = Field(default=30.0, ge=1)
    chat_password_time_cost: int = Field(default=2, ge=1, description="argon2id passes")
    chat_password_memory_kib: int = Field(default=19 * 1024, ge=8, description="argon2id")

    # chat: real time (WebSocket /ws)
    # A client that stops reading is closed (4009, it resumes later) once this much waits
    # for it here, on top of the kernel's send buffer: together about 192 KiB, a few
    # seconds of a busy room (50 messages/s of ~1 KB), not the ~3 MB an autotuned kernel
    # buffer would hold.
    chat_ws_send_buffer_bytes: int = Field(
        default=64 * 1024, ge=4096, description="queued per connection before close 4009"
    )
    chat_ws_kernel_send_buffer_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description="SO_SNDBUF per WebSocket (Linux doubles it); 0: the OS default (autotuned)",
    )
    chat_ws_rate: float = Field(default=20.0, gt=0, description="client frames/s per user")
    chat_ws_burst: float = Field(default=60.0, ge=1, description="client frames saved up")
    chat_ws_strikes: int = Field(default=10, ge=1, description="rate_limited errors before 4008")
    chat_presence_grace_seconds: float = Field(default=5.0, ge=0)
    chat_large_room_members: int = Field(
        default=500, ge=0, description="larger: no presence frames, partial `joined` list"
    )
    chat_typing_interval_seconds: float = Field(default=3.0, ge=0)

    # chat -> media over HTTP, when this node runs chat without media (a media node or the
    # load balancer in front of the media nodes; requests signed with the media security key)
    media_url: str | None = Field(default=None, description="e.g. http://media-host:8001")
    media_client_connect_timeout: float = Field(default=2.0, gt=0)
    media_client_timeout: float = Field(
        default=5.0, gt=0, description="attachments: a send waits at most about this long"
    )
    media_client_preview_timeout: float = Field(default=45.0, gt=0, description="link previews")
    media_client_retries: int = Field(default=2, ge=0, description="on connection errors, 5xx")

    # media: security
    media_security_key: SecretStr | None = None
    media_allow_unsafe: bool = False
    media_auto_format: bool = True

    # media: uploads (each needs a grant from a chat node: POST /api/upload-grants)
    media_upload_per_minute: float = Field(default=30.0, gt=0, description="per user")
    media_upload_burst: float = Field(default=10.0, ge=1, description="per user")
    media_upload_quota_bytes: int = Field(
        default=500 * 1024 * 1024, ge=1, description="per user, refilled over a day"
    )
    chat_upload_grant_ttl_seconds: float = Field(default=300.0, gt=0, le=3600)

    # media: rendering
    media_render_processes: int = Field(default=0, ge=0, description="0: one per core")
    media_render_timeout_seconds: float = Field(default=20.0, gt=0)
    media_render_recycle_after: int = Field(default=1000, ge=1)
    media_render_memory_mib: int = Field(
        default=512, ge=0, description="heap cap per render worker (RLIMIT_DATA); 0: none"
    )
    media_vips_cache_max_ops: int = Field(default=0, ge=0)
    media_max_pixels: int = Field(
        default=200_000_000,
        ge=1,
        description="pixel values decoded: every kept frame's rectangle x bands (66 MP RGB)",
    )
    media_max_frames: int = Field(default=256, ge=1)
    media_max_output_side: int = Field(default=8192, ge=16)
    media_extra_loaders: Annotated[list[str], NoDecode] = Field(default_factory=list)
    media_result_cache: bool = True

    # media: sources
    media_max_source_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    media_allow_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Ports ("8080") or ranges ("9000-9100") the fetcher dials besides 80 and 443.
    media_allow_ports: Annotated[list[str], NoDecode] = Field(default_factory=list)
    media_fetch_connect_timeout: float = Field(default=5.0, gt=0)
    media_fetch_read_timeout: float = Field(default=10.0, gt=0)
    media_fetch_total_timeout: float = Field(default=30.0, gt=0)
    media_fetch_max_redirects: int = Field(default=5, ge=0)
    media_fetch_concurrency: int = Field(default=64, ge=1)
    media_fetch_per_host: int = Field(default=8, ge=1)
    media_fetch_per_host_rate: float = Field(default=0.0, ge=0, description="per minute, 0: none")

    @field_validator(
        "roles",
        "media_extra_loaders",
        "media_allow_networks",
        "media_allow_ports",
        "trusted_proxies",
        "metrics_allow",
        "chat_allowed_origins",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("roles")
    @classmethod
    def _roles_not_empty(cls, value: list[Role]) -> list[Role]:
        if not value:
            raise ValueError("at least one role is needed")
        return list(dict.fromkeys(value))

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr[:60]!r} is not a CIDR") from None
        return value

    @field_validator("media_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
            raise ValueError("CONFAB_MEDIA_URL is http(s)://host[:port][/prefix]")
        return value

    def render_processes(self) -> int:
        """Number of render worker processes to start."""
        return self.media_render_processes or (os.cpu_count() or 1)

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data dir."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'confab.db').resolve()}"

    def resolved_blobs_url(self) -> str:
        """The blob store URL, defaulting to a folder in the data dir."""
        return self.blobs_url or (self.data_dir / "blobs").resolve().as_uri()
