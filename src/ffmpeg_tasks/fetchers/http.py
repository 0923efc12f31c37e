"""Inputs over ``http`` and ``https``, safe to point at URLs that strangers send (SSRF).

A service that downloads whatever URL a caller names can be made to fetch from its own network:
``http://169.254.169.254/`` (cloud credentials), ``http://localhost:6379/``, a router's admin
page. :class:`HttpFetcher` refuses those by default:

- only ``http``/``https``, no ``user:password@``, no odd IPv4 spellings (``http://2130706433/``);
- the host is resolved once per request by the fetcher itself, every address is checked
  (:mod:`._addresses`), and the connection goes to the checked address: the request is sent to
  the IP with the real name in the ``Host`` header and, for TLS, in the ``sni_hostname``
  extension, so httpcore still verifies the certificate against the name while DNS has no
  second chance to answer differently (DNS rebinding);
- redirects are followed here, not by httpx, and each hop is checked the same way;
- proxy variables (``HTTP_PROXY``...) are ignored, cookies are never kept.

Downloads stream to disk; memory does not grow with the body. Sizes count decoded bytes, a
total deadline stops slow-drip servers, and transient failures are retried with tenacity.
"""

from __future__ import annotations

import email.utils
import math
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import anyio
import attrs
import httpx
from anyio.abc import AsyncResource
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .._checks import check_count, check_int_or_none, check_optional_seconds, check_seconds
from .._defaults import DEFAULT_MAX_INPUT_BYTES
from .._errors import ConfigurationError, FetchError, FfmpegTasksError, InvalidTaskError
from ._addresses import IPAddress
from ._decoding import PIECE, Decoder
from ._pinning import checked_addresses, parse_http_url, pinned_request
from ._resolver import Resolver, system_resolver

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_TIMEOUT",
    "HttpFetcher",
    "Resolver",
    "system_resolver",
]

#: Largest input by default: 2 GiB of decoded bytes.
DEFAULT_MAX_SIZE = DEFAULT_MAX_INPUT_BYTES
#: Seconds any one network step (connect, one read) may take by default.
DEFAULT_TIMEOUT = 30.0
#: Seconds one whole fetch (every retry and redirect) may take by default.
DEFAULT_DEADLINE = 3600.0

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Answers worth asking again: timeouts, rate limits, overloaded or restarting upstreams.
_TRANSIENT = frozenset({408, 429, 502, 503, 504})
#: A server's Retry-After is honoured up to this many seconds.
_RETRY_AFTER_CAP = 30.0
#: Headers the fetcher sets itself: the SSRF and size rules depend on them.
_OWN_HEADERS = frozenset(
    {"host", "accept-encoding", "connection", "content-length", "range", "transfer-encoding"}
)


class _TransientError(FetchError):
    """A failure the next attempt may not meet; never leaves this module."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _shown(url: httpx.URL | str) -> str:
    """A URL for messages, without its query string (signed URLs carry secrets there)."""
    if isinstance(url, str):
        try:
            url = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            return repr(url[:200] if isinstance(url, str) else url)
    text = str(url.copy_with(query=None, fragment=None))
    return repr(text + ("?…" if url.query else ""))


@attrs.define
class _Download:
    """One call to :meth:`HttpFetcher.fetch`: where it started, and the file it wrote."""

    original: httpx.URL
    destination: Path
    created: bool = False

    def label(self, hop: httpx.URL) -> str:
        if hop == self.original:
            return f"input URL {_shown(self.original)}"
        return f"input URL {_shown(self.original)} (redirected to {_shown(hop)})"

    async def open(self, label: str) -> anyio.AsyncFile[bytes]:
        await self.discard()
        try:
            file = await anyio.open_file(self.destination, "xb")
        except OSError as exc:
            raise FetchError(
                f"{label}: cannot write {self.destination}: {exc.strerror or exc}"
            ) from exc
        self.created = True
        return file

    async def discard(self) -> None:
        """Remove what this download wrote, even while being cancelled."""
        if self.created:
            with anyio.CancelScope(shield=True):
                await anyio.Path(self.destination).unlink(missing_ok=True)
            self.created = False


class HttpFetcher(AsyncResource):
    """Downloads ``http``/``https`` inputs, refusing private networks unless told otherwise.

    Example::

        fetcher = HttpFetcher(max_size=500 * 1024**2, deadline=600)
        manager = TaskManager(fetcher=fetcher)

    The HTTP client is made on first use, so the fetcher can be built outside an event loop.

    Args:
        allow_private_networks: Also fetch from loopback, private (RFC 1918, IPv6 unique
            local) and carrier-grade NAT addresses: for trusted callers only. Link-local
            (cloud metadata), multicast, unspecified and reserved addresses stay refused.
        resolver: Host name -> addresses; the system's ``getaddrinfo`` by default.
        max_size: Largest input in decoded bytes, or None for no limit.
        timeout: Seconds for each network step: connecting, each read, each write.
        deadline: Seconds for a whole fetch, every retry and redirect included, or None.
        retries: How many times a transient failure is retried (connection errors, timeouts,
            truncated bodies, HTTP 408/429/502/503/504).
        backoff: Seconds before the first retry; doubled at each next one (up to 30 s), with
            jitter. A server's ``Retry-After`` is honoured up to 30 s.
        max_redirects: Redirects followed before giving up.
        user_agent: The ``User-Agent`` header.
        headers: Extra request headers (an ``Authorization`` for instance). Sent only to the
            input URL's own scheme, host and port, never after a redirect elsewhere.
        verify: TLS verification: True (the certifi CA bundle), an ``ssl.SSLContext``, or
            False to turn it off.

    Raises:
        ConfigurationError: an argument is out of range, or ``headers`` names a header the fetcher sets.
    """

    def __init__(
        self,
        *,
        allow_private_networks: bool = False,
        resolver: Resolver | None = None,
        max_size: int | None = DEFAULT_MAX_SIZE,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float | None = DEFAULT_DEADLINE,
        retries: int = 3,
        backoff: float = 0.5,
        max_redirects: int = 5,
        user_agent: str = "ffmpeg-tasks",
        headers: Mapping[str, str] | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._max_size = check_int_or_none(max_size, "max_size", minimum=0)
        self._timeout = check_seconds(timeout, "timeout")
        self._deadline = check_optional_seconds(deadline, "deadline", error=ConfigurationError)
        self._retries = check_count(retries, "retries")
        self._backoff = check_seconds(backoff, "backoff", zero_ok=True)
        self._max_redirects = check_count(max_redirects, "max_redirects")
        extra = dict(headers or {})
        if taken := sorted(name for name in extra if name.lower() in _OWN_HEADERS):
            raise ConfigurationError(f"headers {taken} are set by the fetcher itself; remove them")
        self._allow_private = allow_private_networks
        self._resolver: Resolver = resolver if resolver is not None else system_resolver
        self._user_agent = user_agent
        self._headers = extra
        self._verify = verify
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        # Header values may hold credentials: only their names are shown.
        return (
            f"HttpFetcher(allow_private_networks={self._allow_private}, "
            f"max_size={self._max_size}, timeout={self._timeout:g}, deadline={self._deadline}, "
            f"retries={self._retries}, max_redirects={self._max_redirects}, "
            f"headers={sorted(self._headers)})"
        )

    async def check(self, url: str) -> None:
        """Refuse a URL that is malformed or whose host resolves to a refused address.

        Raises:
            InvalidTaskError: the message says which rule the URL breaks.
        """
        parsed = self._parse(url, InvalidTaskError, label=f"input URL {_shown(url)}")
        await self._resolve(parsed, InvalidTaskError, label=f"input URL {_shown(parsed)}")

    async def fetch(self, url: str, *, destination: Path) -> int:
        """Stream ``url`` into ``destination`` (which must not exist) and return its size.

        On any failure, cancellation included, nothing is left at ``destination``.

        Raises:
            FetchError: the URL is refused, the server failed or answered an error, the body
                is truncated or too large, or the deadline passed; the message says which.
        """
        parsed = self._parse(url, FetchError, label=f"input URL {_shown(url)}")
        download = _Download(original=parsed, destination=Path(destination))
        try:
            try:
                with anyio.fail_after(self._deadline):
                    return await self._follow(download)
            except TimeoutError as exc:
                raise FetchError(
                    f"input URL {_shown(parsed)} took longer than the {self._deadline:g} s "
                    "allowed for one input"
                ) from exc
        except BaseException:
            await download.discard()
            raise

    async def aclose(self) -> None:
        """Close the HTTP client's connections; a later fetch opens a new client."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # URL and address rules ---------------------------------------------------------------

    def _parse(self, url: object, error: type[FfmpegTasksError], *, label: str) -> httpx.URL:
        return parse_http_url(url, error, label=label)

    async def _resolve(
        self,
        parsed: httpx.URL,
        error: type[FfmpegTasksError],
        *,
        label: str,
        transient: type[FfmpegTasksError] | None = None,
    ) -> list[IPAddress]:
        """The checked addresses of the URL's host, in the order to try them."""
        return await checked_addresses(
            parsed,
            error,
            label=label,
            resolver=self._resolver,
            timeout=self._timeout,
            allow_private=self._allow_private,
            allow_hint="an application that trusts its callers may pass "
            "HttpFetcher(allow_private_networks=True)",
            transient=transient,
        )

    # Downloading -------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                trust_env=False,  # no HTTP(S)_PROXY / NO_PROXY / netrc / SSL_CERT_FILE
                follow_redirects=False,  # _follow checks every hop
                verify=self._verify,
                timeout=httpx.Timeout(self._timeout),
                # One connection per request: a pooled TLS connection was verified for one
                # host name and must not carry a request for another name on the same IP.
                limits=httpx.Limits(max_keepalive_connections=0),
                cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            )
        return self._client

    async def _follow(self, download: _Download) -> int:
        hop = download.original
        for _ in range(self._max_redirects + 1):
            outcome = await self._with_retries(hop, download)
            if isinstance(outcome, int):
                return outcome
            label = f"{download.label(hop)} redirects to {_shown(outcome)}, which"
            target = self._parse(str(outcome), FetchError, label=label)
            if hop.scheme == "https" and target.scheme == "http":
                raise FetchError(f"{label} downgrades https to plain http; refused")
            hop = target
        raise FetchError(
            f"input URL {_shown(download.original)} redirected more than "
            f"{self._max_redirects} times; giving up"
        )

    async def _with_retries(self, hop: httpx.URL, download: _Download) -> httpx.URL | int:
        """One hop, its transient failures retried: the size, or the URL it redirects to."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_TransientError),
            sleep=anyio.sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(
                        hop, download, attempt=attempt.retry_state.attempt_number
                    )
        except _TransientError as exc:
            if self._retries:
                raise FetchError(f"{exc} (gave up after {self._retries + 1} attempts)") from exc
            raise FetchError(str(exc)) from exc
        raise AssertionError("tenacity ended without an outcome")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        delay = float(
            wait_exponential_jitter(multiplier=self._backoff, max=30.0, jitter=self._backoff)(state)
        )
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, _TransientError) and failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
        return delay

    async def _attempt(
        self, hop: httpx.URL, download: _Download, *, attempt: int
    ) -> httpx.URL | int:
        label = download.label(hop)
        addresses = await self._resolve(hop, FetchError, label=label, transient=_TransientError)
        address = addresses[(attempt - 1) % len(addresses)]  # each retry tries the next one
        request = self._request(
            hop, address, same_origin=_origin(hop) == _origin(download.original)
        )
        try:
            response = await self._http().send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise _TransientError(
                f"{label}: {address} did not answer within {self._timeout:g} s"
            ) from exc
        except httpx.TransportError as exc:
            cause = _cause(exc)
            if isinstance(cause, ssl.SSLError):
                # A certificate that does not match will not match on the next attempt either.
                raise FetchError(f"{label}: TLS with {address} failed: {cause}") from exc
            raise _TransientError(f"{label}: cannot connect to {address}: {cause}") from exc
        try:
            return await self._receive(response, hop, download, label)
        finally:
            with anyio.move_on_after(5, shield=True):
                await response.aclose()

    def _request(self, hop: httpx.URL, address: IPAddress, *, same_origin: bool) -> httpx.Request:
        """A GET sent to ``address`` that names the real host in Host and in TLS SNI."""
        headers = dict(self._headers) if same_origin else {}
        headers.update(
            {"User-Agent": self._user_agent, "Accept-Encoding": "identity", "Connection": "close"}
        )
        return pinned_request(self._http(), "GET", hop, address, headers=headers)

    async def _receive(
        self, response: httpx.Response, hop: httpx.URL, download: _Download, label: str
    ) -> httpx.URL | int:
        status = response.status_code
        if status in _REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise FetchError(f"{label} answered HTTP {status} without a Location header")
            try:
                return hop.join(location)
            except httpx.InvalidURL as exc:
                raise FetchError(f"{label} redirects to an invalid URL: {exc}") from None
        answer = f"{label} answered HTTP {status} {response.reason_phrase}".rstrip()
        if status in _TRANSIENT:
            raise _TransientError(answer, retry_after=_retry_after(response))
        if not 200 <= status < 300 or status == 206:
            raise FetchError(answer)
        length = _content_length(response)
        if length is not None and self._max_size is not None and length > self._max_size:
            raise FetchError(
                f"{label} is {length} bytes (Content-Length), more than the "
                f"{self._max_size} allowed"
            )
        try:
            decoder = Decoder(response.headers.get("content-encoding", ""))
        except ValueError as exc:
            raise FetchError(f"{label}: {exc}") from None
        async with await download.open(label) as file:
            return await self._save(response, decoder, file, length=length, label=label)

    async def _save(
        self,
        response: httpx.Response,
        decoder: Decoder,
        file: anyio.AsyncFile[bytes],
        *,
        length: int | None,
        label: str,
    ) -> int:
        chunks = response.aiter_raw(PIECE)
        try:
            written = await self._write(chunks, decoder, file, label)
            decoder.finish()
        except httpx.TimeoutException as exc:
            raise _TransientError(
                f"{label}: the server sent nothing for {self._timeout:g} s "
                f"after {response.num_bytes_downloaded} bytes"
            ) from exc
        except httpx.TransportError as exc:
            raise _TransientError(_broken(label, response, length, _cause(exc))) from exc
        except (FetchError, ValueError) as exc:
            await _abandon(response, chunks)
            if isinstance(exc, FetchError):
                raise
            raise FetchError(f"{label}: {exc}") from exc
        if length is not None and response.num_bytes_downloaded < length:
            raise _TransientError(_broken(label, response, length, None))
        return written

    async def _write(
        self,
        chunks: AsyncIterator[bytes],
        decoder: Decoder,
        file: anyio.AsyncFile[bytes],
        label: str,
    ) -> int:
        written = 0
        async for chunk in chunks:
            for piece in decoder.decode(chunk):
                written += len(piece)
                if self._max_size is not None and written > self._max_size:
                    how = f" once decoded ({decoder.coding})" if decoder.coding else ""
                    raise FetchError(
                        f"{label} is larger{how} than the {self._max_size} bytes allowed"
                    )
                try:
                    await file.write(piece)
                except OSError as exc:
                    raise FetchError(
                        f"{label}: cannot write it to disk: {exc.strerror or exc}"
                    ) from exc
        return written


async def _abandon(response: httpx.Response, chunks: AsyncIterator[bytes]) -> None:
    """Stop a body half-way without leaving httpcore's generators suspended.

    Closing only the outer iterator would leave httpx's and httpcore's inner async generators
    to the garbage collector (trio warns about each). Closing the connection first makes
    their next read fail, so they all end on that error, here and now.
    """
    with anyio.move_on_after(5, shield=True):
        await response.aclose()
        try:
            async for _ in chunks:
                pass
        except (httpx.HTTPError, httpx.StreamError):
            pass  # the expected end: the connection is closed


def _cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain that says something (trio's often say nothing)."""
    found = exc
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if str(current) or isinstance(current, ssl.SSLError):
            found = current
        current = current.__cause__ or current.__context__
    return found


def _broken(
    label: str, response: httpx.Response, length: int | None, exc: BaseException | None
) -> str:
    got = response.num_bytes_downloaded
    if length is not None and got < length:
        return f"{label}: the body was truncated: got {got} of the {length} bytes announced"
    return f"{label}: the connection broke after {got} bytes (truncated): {exc}"


def _origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.raw_host, url.port or default


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks us to wait (a number or an HTTP date), capped."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), _RETRY_AFTER_CAP)
