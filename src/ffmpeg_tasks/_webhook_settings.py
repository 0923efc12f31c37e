"""How a manager sends webhooks: the signing secret, endpoints, retry schedule and limits."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterable, Mapping

import attrs

from ._checks import (
    check_count,
    check_optional_seconds,
    check_positive_int,
    check_seconds,
    is_seconds,
)
from ._errors import ConfigurationError
from .fetchers._pinning import parse_http_url
from .fetchers._resolver import Resolver

__all__ = [
    "DEFAULT_RETRY_SCHEDULE",
    "PRIVATE_ENV_VAR",
    "SECRET_ENV_VAR",
    "URLS_ENV_VAR",
    "WebhookSettings",
]

#: Seconds before each retry of a failed delivery: 5 s, 30 s, 5 min, 30 min, 2 h, 5 h, 10 h
#: (eight attempts over about 18 hours), each with jitter.
DEFAULT_RETRY_SCHEDULE = (5.0, 30.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
#: The signing secret, ``whsec_`` and base64.
SECRET_ENV_VAR = "FFMPEG_TASKS_WEBHOOK_SECRET"
#: Comma-separated URLs every task's events go to.
URLS_ENV_VAR = "FFMPEG_TASKS_WEBHOOK_URLS"
#: The inputs' opt-in to private networks, which webhooks follow.
PRIVATE_ENV_VAR = "FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS"
_PREFIX = "whsec_"


def _secret(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(_PREFIX):
        raise ConfigurationError(
            "the webhook secret must be a string 'whsec_' + base64 (Standard Webhooks); make "
            "one with WebhookSettings.new_secret() or: python -c 'import secrets, base64; "
            'print("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())\''
        )
    try:
        key = base64.b64decode(value[len(_PREFIX) :], validate=True)
    except ValueError:
        raise ConfigurationError("the webhook secret after 'whsec_' is not valid base64") from None
    if len(key) < 24:
        raise ConfigurationError(
            f"the webhook secret holds {len(key)} bytes; use 24 to 64 random bytes (32 is usual)"
        )
    return value


def _endpoints(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ConfigurationError("endpoints must be a list of URLs, not one string")
    urls = tuple(dict.fromkeys(value))
    for url in urls:
        parse_http_url(url, ConfigurationError, label=f"webhook endpoint {url!r}")
    return urls


def _schedule(value: Iterable[float]) -> tuple[float, ...]:
    delays = tuple(value)
    return tuple(check_seconds(delay, "each delay of retry_schedule") for delay in delays)


@attrs.frozen(kw_only=True)
class WebhookSettings:
    """How a :class:`TaskManager` sends its tasks' events as signed webhooks.

    Every delivery is signed as the Standard Webhooks spec says (``webhook-id``,
    ``webhook-timestamp`` and ``webhook-signature`` headers; HMAC-SHA256 with ``secret``),
    kept in the task store's outbox until it is delivered, and retried on the
    ``retry_schedule``. Every manager sharing a store should have the same secret.

    Raises:
        ConfigurationError: a setting is unusable; the message says which.
    """

    #: ``whsec_`` and the base64 of 24 to 64 random bytes; see :meth:`new_secret`.
    secret: str = attrs.field(repr=False, converter=_secret)
    #: URLs every event of every task goes to, besides a task's ``webhook_url``.
    endpoints: tuple[str, ...] = attrs.field(default=(), converter=_endpoints)
    #: Also call loopback and private addresses (receivers of a trusted network, tests);
    #: link-local and metadata addresses stay refused.
    allow_private_networks: bool = False
    #: Least seconds between two ``task.progress`` webhooks of a task; None sends none.
    progress_interval: float | None = attrs.field(default=None)
    #: Seconds before each retry, each varied by +-``jitter`` of itself; after the last one
    #: the delivery is ``failed``.
    retry_schedule: tuple[float, ...] = attrs.field(
        default=DEFAULT_RETRY_SCHEDULE, converter=_schedule
    )
    #: The fraction a retry's delay varies by at random, from 0 to 0.5.
    jitter: float = 0.2
    #: Seconds one attempt may take, all of it (resolving, connecting, sending, reading).
    timeout: float = 10.0
    #: The most of an answer's body read; the rest is never received.
    max_response_bytes: int = 4096
    #: Deliveries attempted at once by one manager.
    max_concurrency: int = 4
    #: Seconds between two looks at the outbox for deliveries that other processes queued
    #: or that came due; this process's own are sent at once.
    poll_interval: float = 1.0
    #: Host name -> addresses (tests); the system's resolver by default.
    resolver: Resolver | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        check_optional_seconds(
            self.progress_interval, "progress_interval", zero_ok=True, error=ConfigurationError
        )
        if not is_seconds(self.jitter, zero_ok=True) or self.jitter > 0.5:
            raise ConfigurationError(f"jitter must be from 0 to 0.5, got {self.jitter!r}")
        check_seconds(self.timeout, "timeout")
        check_count(self.max_response_bytes, "max_response_bytes")
        check_positive_int(self.max_concurrency, "max_concurrency")
        check_seconds(self.poll_interval, "poll_interval")

    @staticmethod
    def new_secret() -> str:
        """A fresh random secret (32 bytes) in the ``whsec_`` form receivers take."""
        return _PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebhookSettings | None:
        """Settings from ``FFMPEG_TASKS_WEBHOOK_SECRET`` and ``FFMPEG_TASKS_WEBHOOK_URLS``
        (comma-separated); None when no secret is set. ``FFMPEG_TASKS_ALLOW_PRIVATE_NETWORKS=1``
        lets webhooks call private addresses too, as it lets inputs come from them.

        Raises:
            ConfigurationError: a value is unusable, or URLs are set without a secret.
        """
        env = os.environ if environ is None else environ
        secret = env.get(SECRET_ENV_VAR, "").strip()
        urls = [url.strip() for url in env.get(URLS_ENV_VAR, "").split(",") if url.strip()]
        if not secret:
            if urls:
                raise ConfigurationError(
                    f"{URLS_ENV_VAR} is set but {SECRET_ENV_VAR} is not: webhooks are signed, "
                    "set a secret (WebhookSettings.new_secret() makes one)"
                )
            return None
        private = env.get(PRIVATE_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}
        try:
            return cls(secret=secret, endpoints=urls, allow_private_networks=private)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{SECRET_ENV_VAR} / {URLS_ENV_VAR}: {exc}") from None
