"""What the safe fetcher allows: networks, caps, timeouts and concurrency limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from confab.core.errors import InvalidInput
from confab.media.fetch.addresses import IPNetwork, PortRange, parse_networks, parse_ports

if TYPE_CHECKING:
    from confab.core.settings import Settings

DEFAULT_USER_AGENT = "Confab-media/0.1"


@dataclass(frozen=True, kw_only=True)
class FetchPolicy:
    """Limits of the safe fetcher. Defaults match the settings' defaults.

    allow_networks: CIDRs dialed even though they are private, loopback, etc. (for private
    deployments and tests). allow_ports: ports ("8080") or ranges ("9000-9100") dialed
    besides 80 and 443, on any network. per_host_rate_per_minute: 0 means no rate limit.
    """

    allow_networks: tuple[str, ...] = ()
    allow_ports: tuple[str, ...] = ()
    max_bytes: int = 50 * 1024 * 1024
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_redirects: int = 5
    concurrency: int = 64
    per_host: int = 8
    per_host_rate_per_minute: float = 0.0
    user_agent: str = DEFAULT_USER_AGENT
    networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    ports: tuple[PortRange, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Fail at start-up on a bad setting, not on the first fetch.
        object.__setattr__(self, "networks", parse_networks(self.allow_networks))
        object.__setattr__(self, "ports", parse_ports(self.allow_ports))
        positive = {
            "max_bytes": self.max_bytes,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "total_timeout": self.total_timeout,
            "concurrency": self.concurrency,
            "per_host": self.per_host,
        }
        for name, value in positive.items():
            if value <= 0:
                raise InvalidInput(f"{name} must be positive, not {value}", code="bad_policy")
        if self.max_redirects < 0 or self.per_host_rate_per_minute < 0:
            raise InvalidInput(
                "max_redirects and per_host_rate_per_minute must not be negative",
                code="bad_policy",
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        """The policy the `CONFAB_MEDIA_*` settings describe."""
        return cls(
            allow_networks=tuple(settings.media_allow_networks),
            allow_ports=tuple(settings.media_allow_ports),
            max_bytes=settings.media_max_source_bytes,
            connect_timeout=settings.media_fetch_connect_timeout,
            read_timeout=settings.media_fetch_read_timeout,
            total_timeout=settings.media_fetch_total_timeout,
            max_redirects=settings.media_fetch_max_redirects,
            concurrency=settings.media_fetch_concurrency,
            per_host=settings.media_fetch_per_host,
            per_host_rate_per_minute=settings.media_fetch_per_host_rate,
        )
