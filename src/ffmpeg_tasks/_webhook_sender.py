"""One attempt of one webhook delivery: signed, sent to a checked address, bounded in time and
in what it reads.

The URL goes through the fetcher's SSRF rules (``fetchers._pinning``): resolved by us, every
address checked, the request sent to the checked address. Redirects are never followed (a
receiver gives its final URL); the answer's body is read up to ``max_response_bytes`` and the
connection closed; the whole attempt has one deadline. A hostile receiver can make its own
deliveries fail, never hold more than one of the sender's slots for ``timeout`` seconds.
"""

from __future__ import annotations

import re
from datetime import datetime

import anyio
import attrs
import httpx
from anyio.abc import AsyncResource
from standardwebhooks import Webhook

from ._deliveries import Delivery
from ._errors import FfmpegTasksError, InvalidTaskError
from ._models import utcnow
from ._tracing import inject
from ._webhook_settings import WebhookSettings
from .fetchers._addresses import IPAddress
from .fetchers._pinning import checked_addresses, parse_http_url, pinned_request
from .fetchers._resolver import system_resolver

__all__ = ["Attempt", "WebhookSender"]

#: Characters of an answer's body kept in ``last_error``.
_SHOWN_BODY = 200
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


class _Refused(FfmpegTasksError):
    """A URL the SSRF rules refuse at send time; never leaves this module."""


@attrs.frozen
class Attempt:
    """How one attempt went."""

    #: The HTTP status of the answer; None when there was none.
    status: int | None
    #: Why it did not deliver; None when it did.
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender(AsyncResource):
    """Signs and sends deliveries, and checks webhook URLs before they are accepted.

    Args:
        settings: The secret, timeouts and limits.
    """

    def __init__(self, settings: WebhookSettings) -> None:
        self._settings = settings
        self._signer = Webhook(settings.secret)
        self._resolver = settings.resolver if settings.resolver is not None else system_resolver
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"WebhookSender(allow_private_networks={self._settings.allow_private_networks})"

    async def check(self, url: object) -> None:
        """Refuse a webhook URL the sender would not call.

        Raises:
            InvalidTaskError: the message says which rule the URL breaks.
        """
        label = f"webhook_url {_shown(url)}"
        parsed = parse_http_url(url, InvalidTaskError, label=label)
        await self._addresses(parsed, InvalidTaskError, label)

    def sign(self, delivery: Delivery, at: datetime) -> dict[str, str]:
        """The Standard Webhooks headers of ``delivery`` sent at ``at``."""
        body = delivery.payload.encode()
        return {
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self._signer.sign(delivery.event_id, at, body),
        }

    async def send(self, delivery: Delivery) -> Attempt:
        """Make one attempt; never raises but for cancellation."""
        label = f"webhook URL {_shown(delivery.url)}"
        timeout = self._settings.timeout
        try:
            with anyio.fail_after(timeout):
                return await self._send(delivery, label)
        except TimeoutError:
            return Attempt(None, f"{label} did not answer within {timeout:g} s")
        except _Refused as exc:
            return Attempt(None, str(exc))
        except httpx.HTTPError as exc:
            return Attempt(None, f"{label}: {type(exc).__name__}: {_cause(exc)}")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _send(self, delivery: Delivery, label: str) -> Attempt:
        parsed = parse_http_url(delivery.url, _Refused, label=label)
        address = (await self._addresses(parsed, _Refused, label))[0]
        body = delivery.payload.encode()
        headers = {
            **self.sign(delivery, utcnow()),
            "Content-Type": "application/json",
            "User-Agent": "ffmpeg-tasks-webhooks",
            "Accept-Encoding": "identity",
            "Connection": "close",
        }
        inject(headers)
        request = pinned_request(
            self._http(), "POST", parsed, address, headers=headers, content=body
        )
        response = await self._http().send(request, stream=True)
        answer = await _read_at_most(response, self._settings.max_response_bytes)
        status = response.status_code
        if 200 <= status < 300:
            return Attempt(status)
        said = f"{label} answered HTTP {status}"
        if 300 <= status < 400:
            said += " (a redirect: redirects are not followed, register the final URL)"
        shown = _UNPRINTABLE.sub(" ", answer.decode("utf-8", "replace"))[:_SHOWN_BODY].strip()
        return Attempt(status, f"{said}: {shown}" if shown else said)

    async def _addresses(
        self, parsed: httpx.URL, error: type[FfmpegTasksError], label: str
    ) -> list[IPAddress]:
        return await checked_addresses(
            parsed,
            error,
            label=label,
            resolver=self._resolver,
            timeout=self._settings.timeout,
            allow_private=self._settings.allow_private_networks,
            allow_hint="a manager that trusts its receivers may pass "
            "WebhookSettings(allow_private_networks=True)",
            done="called",
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                trust_env=False,
                follow_redirects=False,
                timeout=httpx.Timeout(self._settings.timeout),
                # a pooled TLS connection was verified for one name; never reuse it for another
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        return self._client


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body, then the connection is closed: the rest is never
    read. Closing it first makes httpx's inner generators end on their next read, here and
    now, rather than be left to the garbage collector."""
    kept = bytearray()
    chunks = response.aiter_raw()
    try:
        if limit:
            async for chunk in chunks:
                kept += chunk[: limit - len(kept)]
                if len(kept) >= limit:
                    break
    finally:
        with anyio.move_on_after(1, shield=True):
            await response.aclose()
            try:
                async for _ in chunks:
                    pass
            except (httpx.HTTPError, httpx.StreamError):
                pass  # the expected end: the connection is closed
    return bytes(kept)


def _shown(url: object) -> str:
    """A URL for messages, without its query (which may hold a token)."""
    if not isinstance(url, str):
        return repr(url)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return repr(url[:200])
    text = str(parsed.copy_with(query=None, fragment=None))
    return repr(text + ("?…" if parsed.query else ""))


def _cause(exc: BaseException) -> str:
    """The innermost message of an exception chain that says something."""
    found = str(exc)
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if str(current):
            found = str(current)
        current = current.__cause__ or current.__context__
    return found or type(exc).__name__
