"""HttpFetcher against a real server on 127.0.0.1: SSRF refusals, redirects, failures, limits.

Names resolve through a stub (:class:`StubResolver`), so "evil.test" can mean 10.0.0.1 and
"media.test" can mean the loopback server, deterministically and without DNS. Wherever a URL
is refused, the test also shows the server received no request: refused before any byte moved.
"""

from __future__ import annotations

import gzip
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping, Sequence
from pathlib import Path

import anyio
import pytest

from ffmpeg_tasks import ConfigurationError, FetchError, InvalidTaskError, TaskManager, TaskStatus
from ffmpeg_tasks.fetchers import HttpFetcher
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.storage import MemoryStore
from ffmpeg_tasks.uploaders import LocalUploader
from tests.fixtures.http_server import Exchange, HttpServer

pytestmark = pytest.mark.anyio


class StubResolver:
    """DNS as a table: host -> addresses; ``turns`` gives a host's answers in turn (rebinding)."""

    def __init__(
        self,
        table: Mapping[str, Sequence[str]],
        *,
        turns: Mapping[str, Sequence[Sequence[str]]] | None = None,
    ) -> None:
        self._table = dict(table)
        self._turns = {host: list(answers) for host, answers in (turns or {}).items()}
        #: Every host looked up, in order.
        self.calls: list[str] = []

    async def __call__(self, host: str) -> Sequence[str]:
        self.calls.append(host)
        if self._turns.get(host):
            return self._turns[host].pop(0)
        if host not in self._table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self._table[host]


MakeFetcher = Callable[..., HttpFetcher]


@pytest.fixture
async def make_fetcher() -> AsyncIterator[MakeFetcher]:
    """HttpFetcher with fast test settings (no retries, tiny backoff), closed afterwards."""
    made: list[HttpFetcher] = []

    def make(**kwargs: object) -> HttpFetcher:
        settings: dict[str, object] = {"retries": 0, "backoff": 0.01, "timeout": 5.0}
        settings.update(kwargs)
        fetcher = HttpFetcher(**settings)  # type: ignore[arg-type]
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        await fetcher.aclose()


def no_file_in(folder: Path) -> bool:
    return not any(folder.iterdir())


# -- refused before anything is downloaded ------------------------------------------------------

#: Loopback written every way a filter might miss; {port} is the live test server's port.
LOOPBACK_SPELLINGS = [
    ("http://127.0.0.1:{port}/secret", "loopback address"),
    ("http://127.0.0.1.:{port}/secret", "loopback address"),
    ("http://127.9.9.9:{port}/secret", "loopback address"),
    ("http://[::1]:{port}/secret", "loopback address"),
    ("http://[::ffff:127.0.0.1]:{port}/secret", "IPv4-mapped address carrying 127.0.0.1"),
    ("http://[::ffff:7f00:1]:{port}/secret", "IPv4-mapped address carrying 127.0.0.1"),
    ("http://[::127.0.0.1]:{port}/secret", "IPv4-compatible address carrying 127.0.0.1"),
    ("http://[2002:7f00:1::]:{port}/secret", "6to4 address carrying 127.0.0.1"),
    ("http://[64:ff9b::7f00:1]:{port}/secret", "NAT64 address carrying 127.0.0.1"),
    ("http://2130706433:{port}/secret", "unusual spelling of the IPv4 address 127.0.0.1"),
    ("http://0177.0.0.1:{port}/secret", "Invalid IPv4 address: '0177.0.0.1'"),  # httpx's
    ("http://0x7f.1:{port}/secret", "unusual spelling of the IPv4 address 127.0.0.1"),
    ("http://0x7f000001:{port}/secret", "unusual spelling of the IPv4 address 127.0.0.1"),
    ("http://127.1:{port}/secret", "unusual spelling of the IPv4 address 127.0.0.1"),
    ("http://127.0.1:{port}/secret", "unusual spelling of the IPv4 address 127.0.0.1"),
    ("http://0:{port}/secret", "unusual spelling of the IPv4 address 0.0.0.0"),
    ("http://0.0.0.0:{port}/secret", "0.0.0.0/8"),
    ("http://localhost:{port}/secret", "resolves to 127.0.0.1, which is a loopback address"),
    ("http://evil.test:{port}/secret", "resolves to 127.0.0.1, which is a loopback address"),
    ("http://sneaky.test:{port}/secret", "IPv4-mapped address carrying 127.0.0.1"),
    ("http://mixed.test:{port}/secret", "resolves to 127.0.0.1"),
]

#: Other places a server's network should stay out of reach of its callers.
OTHER_REFUSED = [
    ("http://10.0.0.1/", "private address"),
    ("http://172.16.5.4/", "private address"),
    ("http://192.168.1.1/", "private address"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://169.254.169.254/latest/meta-data/", "link-local address (cloud metadata"),
    ("http://[::ffff:169.254.169.254]/latest/meta-data/", "carrying 169.254.169.254"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "unique local"),
    ("http://[fe80::1]/", "link-local address"),
    ("http://[fe80::1%25eth0]/", "zone identifier"),
    ("http://[fec0::1]/", "site-local"),
    ("http://[ff02::1]/", "multicast address"),
    ("http://224.0.0.1/", "multicast address"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.1/", "documentation"),
    ("http://[2001:db8::1]/", "documentation"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo"),
    ("http://[64:ff9b:1::a00:1]/", "local-use NAT64"),
    ("http://[::]/", "unspecified"),
    ("http://[4000::1]/", "reserved address (outside 2000::/3)"),
    ("http://metadata.test/", "resolves to 169.254.169.254"),
    ("http://intranet.test/", "resolves to 10.1.2.3, which is a private address"),
    ("http://x.123/", "ends in a number but is not an IPv4 address"),
    ("http://nowhere.test/", "cannot resolve host 'nowhere.test'"),
    ("http://user:secret@media.test/a.mp4", "user name or password"),
    ("http://user@media.test/a.mp4", "user name or password"),
    ("ftp://media.test/a.mp4", "must use http or https, not 'ftp'"),
    ("file:///etc/passwd", "must use http or https, not 'file'"),
    ("gopher://media.test:70/_SET", "must use http or https"),
    ("media.test/a.mp4", "must use http or https"),
    ("http:///a.mp4", "has no host"),
    ("http://media.test:99999/a.mp4", "invalid port"),
    ("http://[::1/a.mp4", "not a valid URL"),
    ("http://a b.test/a.mp4", "not a valid host name"),
]

DNS = StubResolver(
    {
        "localhost": ["127.0.0.1", "::1"],
        "evil.test": ["127.0.0.1"],
        "sneaky.test": ["::ffff:127.0.0.1"],
        "mixed.test": ["93.184.216.34", "127.0.0.1"],  # one bad answer is enough
        "metadata.test": ["169.254.169.254"],
        "intranet.test": ["10.1.2.3"],
        "media.test": ["127.0.0.1"],
        "other.test": ["127.0.0.1"],
    }
)


@pytest.mark.parametrize(("template", "message"), LOOPBACK_SPELLINGS)
async def test_loopback_in_any_spelling_is_refused_and_never_contacted(
    http_server: HttpServer,
    make_fetcher: MakeFetcher,
    tmp_path: Path,
    template: str,
    message: str,
) -> None:
    http_server.add("/secret", b"the server's own secrets")
    url = template.format(port=http_server.port)
    fetcher = make_fetcher(resolver=DNS)
    with pytest.raises(InvalidTaskError, match=re.escape(message)):
        await fetcher.check(url)
    with pytest.raises(FetchError, match=re.escape(message)):
        await fetcher.fetch(url, destination=tmp_path / "secret")
    assert http_server.requests == []
    assert no_file_in(tmp_path)


@pytest.mark.parametrize(("url", "message"), OTHER_REFUSED)
async def test_other_forbidden_targets_are_refused(
    make_fetcher: MakeFetcher, tmp_path: Path, url: str, message: str
) -> None:
    fetcher = make_fetcher(resolver=DNS)
    with pytest.raises(InvalidTaskError, match=re.escape(message)):
        await fetcher.check(url)
    with pytest.raises(FetchError, match=re.escape(message)):
        await fetcher.fetch(url, destination=tmp_path / "x")
    assert no_file_in(tmp_path)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://0.0.0.0:{port}/secret",  # reaches this machine on Linux
        "http://127.1:{port}/secret",
        "http://[ff02::1]/",
        "http://metadata.test/",
    ],
)
async def test_allowing_private_networks_still_refuses_metadata_and_odd_forms(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path, url: str
) -> None:
    http_server.add("/secret", b"secret")
    fetcher = make_fetcher(resolver=DNS, allow_private_networks=True)
    url = url.format(port=http_server.port)
    with pytest.raises(InvalidTaskError):
        await fetcher.check(url)
    with pytest.raises(FetchError):
        await fetcher.fetch(url, destination=tmp_path / "x")
    assert http_server.requests == []


async def test_the_refusal_says_how_a_trusted_setup_allows_private_networks(
    make_fetcher: MakeFetcher,
) -> None:
    with pytest.raises(InvalidTaskError, match=r"allow_private_networks=True"):
        await make_fetcher(resolver=DNS).check("http://evil.test/a.mp4")
    with pytest.raises(InvalidTaskError) as metadata:
        await make_fetcher(resolver=DNS).check("http://169.254.169.254/")
    assert "allow_private_networks" not in str(metadata.value)  # that would not help


async def test_messages_hide_the_query_string(make_fetcher: MakeFetcher) -> None:
    url = "http://evil.test/a.mp4?X-Amz-Signature=s3cr3t"
    with pytest.raises(InvalidTaskError) as refused:
        await make_fetcher(resolver=DNS).check(url)
    assert "s3cr3t" not in str(refused.value)
    assert "'http://evil.test/a.mp4?…'" in str(refused.value)


# -- pinned addresses: no DNS rebinding ---------------------------------------------------------


async def test_a_name_is_resolved_once_and_the_checked_address_is_used(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    http_server.add_host_echo("/clip.mp4")
    dns = StubResolver({"media.test": ["127.0.0.1"]})
    fetcher = make_fetcher(resolver=dns, allow_private_networks=True)
    url = http_server.url("/clip.mp4", host="media.test")
    await fetcher.check(url)
    assert dns.calls == ["media.test"]
    # "media.test" means nothing to the system resolver: only the stub's address can work.
    size = await fetcher.fetch(url, destination=tmp_path / "clip.mp4")
    assert dns.calls == ["media.test", "media.test"]  # once for check, once for the fetch
    expected_host = f"media.test:{http_server.port}"
    assert (tmp_path / "clip.mp4").read_bytes() == expected_host.encode()
    assert size == len(expected_host)
    [request] = http_server.requests
    assert request.host == expected_host
    assert request.headers["accept-encoding"] == "identity"


async def test_dns_rebinding_after_the_check_is_refused(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    http_server.add("/secret", b"secret")
    # Public at register time, loopback when the download starts.
    dns = StubResolver({}, turns={"rebind.test": [["93.184.216.34"], ["127.0.0.1"]]})
    fetcher = make_fetcher(resolver=dns)
    url = http_server.url("/secret", host="rebind.test")
    await fetcher.check(url)
    with pytest.raises(FetchError, match=r"resolves to 127\.0\.0\.1, which is a loopback address"):
        await fetcher.fetch(url, destination=tmp_path / "secret")
    assert http_server.requests == []
    assert dns.calls == ["rebind.test", "rebind.test"]
    assert no_file_in(tmp_path)


async def test_a_retry_tries_the_next_address(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    http_server.add("/clip.mp4", b"video")
    # The server listens on 127.0.0.1 only: 127.0.0.2 refuses the connection.
    dns = StubResolver({"media.test": ["127.0.0.2", "127.0.0.1"]})
    fetcher = make_fetcher(resolver=dns, allow_private_networks=True, retries=1)
    url = http_server.url("/clip.mp4", host="media.test")
    assert await fetcher.fetch(url, destination=tmp_path / "clip.mp4") == 5
    assert len(http_server.requests) == 1
    assert dns.calls == ["media.test", "media.test"]  # each attempt resolves and checks anew


# -- TLS: the certificate is checked against the name, not the pinned IP -------------------


async def test_https_sends_the_name_in_sni_and_verifies_it(
    https_server: HttpServer,
    tls_client_context: ssl.SSLContext,
    make_fetcher: MakeFetcher,
    tmp_path: Path,
) -> None:
    https_server.add_host_echo("/clip.mp4")
    fetcher = make_fetcher(resolver=DNS, allow_private_networks=True, verify=tls_client_context)
    url = https_server.url("/clip.mp4", host="media.test")
    await fetcher.fetch(url, destination=tmp_path / "clip.mp4")
    assert https_server.sni_names == ["media.test"]
    assert https_server.requested("/clip.mp4")[0].host == f"media.test:{https_server.port}"


async def test_https_refuses_a_certificate_for_another_name_without_retrying(
    https_server: HttpServer,
    tls_client_context: ssl.SSLContext,
    make_fetcher: MakeFetcher,
    tmp_path: Path,
) -> None:
    https_server.add("/clip.mp4", b"video")
    fetcher = make_fetcher(
        resolver=DNS, allow_private_networks=True, verify=tls_client_context, retries=3
    )
    url = https_server.url("/clip.mp4", host="other.test")  # same IP, certificate says media.test
    with pytest.raises(FetchError, match=r"TLS .* failed.*not valid for 'other\.test'"):
        await fetcher.fetch(url, destination=tmp_path / "clip.mp4")
    assert https_server.sni_names == ["other.test"]  # one handshake: no retry
    assert https_server.requests == []
    assert no_file_in(tmp_path)


async def test_https_verifies_with_the_public_ca_bundle_by_default(
    https_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    https_server.add("/clip.mp4", b"video")
    fetcher = make_fetcher(resolver=DNS, allow_private_networks=True)
    with pytest.raises(FetchError, match="certificate verify failed"):
        await fetcher.fetch(
            https_server.url("/clip.mp4", host="media.test"), destination=tmp_path / "clip.mp4"
        )
    assert https_server.requests == []


# -- redirects --------------------------------------------------------------------------------


async def test_redirects_are_followed_and_rechecked(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add_redirect_chain("/chain", 5, body=b"arrived")
    fetcher = make_fetcher(allow_private_networks=True)
    assert await fetcher.fetch(url, destination=tmp_path / "out") == 7
    assert [r.path for r in http_server.requests] == [
        "/chain",
        *(f"/chain/{n}" for n in range(1, 6)),
    ]


async def test_more_than_five_redirects_is_an_error(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add_redirect_chain("/long", 6)
    fetcher = make_fetcher(allow_private_networks=True)
    with pytest.raises(FetchError, match="redirected more than 5 times"):
        await fetcher.fetch(url, destination=tmp_path / "out")
    assert len(http_server.requests) == 6  # the sixth redirect is never followed
    assert "/long/6" not in [r.path for r in http_server.requests]
    assert no_file_in(tmp_path)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("file:///etc/passwd", "which must use http or https, not 'file'"),
        ("gopher://127.0.0.1:{port}/secret", "must use http or https, not 'gopher'"),
        ("http://169.254.169.254/latest/meta-data/", "link-local address"),
        ("http://metadata.test/latest/meta-data/", "resolves to 169.254.169.254"),
        ("http://0.0.0.0:{port}/secret", "0.0.0.0/8"),
        ("http://127.1:{port}/secret", "unusual spelling"),
        ("http://user:pw@127.0.0.1:{port}/secret", "user name or password"),
    ],
)
async def test_a_redirect_to_a_forbidden_place_is_refused(
    http_server: HttpServer,
    make_fetcher: MakeFetcher,
    tmp_path: Path,
    location: str,
    message: str,
) -> None:
    http_server.add("/secret", b"secret")
    url = http_server.add_redirect("/innocent.mp4", location.format(port=http_server.port))
    fetcher = make_fetcher(resolver=DNS, allow_private_networks=True)
    await fetcher.check(url)  # nothing wrong with the URL itself
    with pytest.raises(FetchError, match=message) as refused:
        await fetcher.fetch(url, destination=tmp_path / "out")
    assert "redirect" in str(refused.value)
    assert [r.path for r in http_server.requests] == ["/innocent.mp4"]
    assert no_file_in(tmp_path)


async def test_a_redirect_from_a_public_name_to_loopback_is_refused(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    # The first hop must be allowed for the redirect to be seen at all: allow private networks
    # but name a host that resolves elsewhere on the second hop.
    http_server.add("/secret", b"secret")
    url = http_server.add_redirect("/innocent.mp4", http_server.url("/secret", host="rebind.test"))
    dns = StubResolver({"rebind.test": ["169.254.169.254"]})
    fetcher = make_fetcher(resolver=dns, allow_private_networks=True)
    with pytest.raises(FetchError, match=r"redirected to .*resolves to 169\.254\.169\.254"):
        await fetcher.fetch(url, destination=tmp_path / "out")
    assert [r.path for r in http_server.requests] == ["/innocent.mp4"]


async def test_https_to_http_downgrade_is_refused(
    http_server: HttpServer,
    https_server: HttpServer,
    tls_client_context: ssl.SSLContext,
    make_fetcher: MakeFetcher,
    tmp_path: Path,
) -> None:
    http_server.add("/clip.mp4", b"video")
    https_server.add_redirect("/clip.mp4", http_server.url("/clip.mp4", host="media.test"))
    fetcher = make_fetcher(resolver=DNS, allow_private_networks=True, verify=tls_client_context)
    with pytest.raises(FetchError, match="downgrades https to plain http"):
        await fetcher.fetch(
            https_server.url("/clip.mp4", host="media.test"), destination=tmp_path / "out"
        )
    assert http_server.requests == []


async def test_extra_headers_stay_with_the_original_origin(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    http_server.add("/clip.mp4", b"video")
    url = http_server.add_redirect("/start.mp4", http_server.url("/clip.mp4", host="other.test"))
    fetcher = make_fetcher(
        resolver=DNS, allow_private_networks=True, headers={"Authorization": "Bearer s3cret"}
    )
    await fetcher.fetch(url, destination=tmp_path / "out")
    first, second = http_server.requests
    assert first.headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in second.headers
    assert second.host == f"other.test:{http_server.port}"
    assert "s3cret" not in repr(fetcher)
    assert "Authorization" in repr(fetcher)


async def test_a_redirect_without_location_is_an_error(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add("/moved.mp4", status=302)
    with pytest.raises(FetchError, match="HTTP 302 without a Location"):
        await make_fetcher(allow_private_networks=True).fetch(url, destination=tmp_path / "o")


# -- statuses and retries ---------------------------------------------------------------------


@pytest.mark.parametrize(("status", "reason"), [(404, "Not Found"), (403, "Forbidden"), (500, "")])
async def test_errors_are_reported_and_not_retried(
    http_server: HttpServer,
    make_fetcher: MakeFetcher,
    tmp_path: Path,
    status: int,
    reason: str,
) -> None:
    url = http_server.add("/clip.mp4", b"nope", status=status)
    fetcher = make_fetcher(allow_private_networks=True, retries=3)
    with pytest.raises(FetchError, match=f"answered HTTP {status} {reason}") as failed:
        await fetcher.fetch(url, destination=tmp_path / "clip.mp4")
    assert "/clip.mp4" in str(failed.value)
    assert len(http_server.requests) == 1
    assert no_file_in(tmp_path)


@pytest.mark.parametrize("status", [502, 503, 504, 429, 408])
async def test_transient_answers_are_retried(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path, status: int
) -> None:
    url = http_server.add_flaky("/clip.mp4", b"finally", failures=2, status=status)
    fetcher = make_fetcher(allow_private_networks=True, retries=2)
    assert await fetcher.fetch(url, destination=tmp_path / "clip.mp4") == 7
    assert (tmp_path / "clip.mp4").read_bytes() == b"finally"
    assert len(http_server.requests) == 3


async def test_retries_give_up_with_the_last_cause(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add_flaky("/clip.mp4", b"never", failures=10)
    fetcher = make_fetcher(allow_private_networks=True, retries=2)
    with pytest.raises(FetchError, match=r"HTTP 503 .*gave up after 3 attempts"):
        await fetcher.fetch(url, destination=tmp_path / "clip.mp4")
    assert len(http_server.requests) == 3


async def test_retry_after_is_honoured(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add_flaky(
        "/clip.mp4", b"ok", failures=1, status=429, headers={"Retry-After": "1"}
    )
    fetcher = make_fetcher(allow_private_networks=True, retries=1)
    started = time.monotonic()
    await fetcher.fetch(url, destination=tmp_path / "clip.mp4")
    assert time.monotonic() - started >= 0.9


async def test_a_refused_connection_is_retried_then_reported(
    make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    fetcher = make_fetcher(allow_private_networks=True, retries=1)
    with pytest.raises(FetchError, match=r"cannot connect to 127\.0\.0\.1.*after 2 attempts"):
        await fetcher.fetch(f"http://127.0.0.1:{port}/a.mp4", destination=tmp_path / "a.mp4")
    assert no_file_in(tmp_path)


# -- bodies: truncated, too big, compressed, slow ----------------------------------------------


async def test_a_truncated_body_is_an_error_and_leaves_no_file(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add_truncated("/clip.mp4", b"x" * 1000, announced=5000)
    fetcher = make_fetcher(allow_private_networks=True, retries=1)
    with pytest.raises(FetchError, match="truncated: got 1000 of the 5000 bytes"):
        await fetcher.fetch(url, destination=tmp_path / "clip.mp4")
    assert len(http_server.requests) == 2  # a broken download is worth one more try
    assert no_file_in(tmp_path)


async def test_a_truncated_chunked_body_is_an_error(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add_chunked_truncated("/clip.mp4", b"x" * 1000)
    with pytest.raises(FetchError, match="truncated"):
        await make_fetcher(allow_private_networks=True).fetch(
            url, destination=tmp_path / "clip.mp4"
        )
    assert no_file_in(tmp_path)


async def test_a_too_large_content_length_is_refused_before_reading(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    # Claims 10 GiB (more than the 2 GiB default), sends little: refused on the header alone.
    url = http_server.add_truncated("/huge.mp4", b"x" * 10, announced=10 * 1024**3)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"10737418240 bytes \(Content-Length\), more than"):
        await make_fetcher(allow_private_networks=True).fetch(url, destination=tmp_path / "h")
    assert time.monotonic() - started < 2
    assert no_file_in(tmp_path)


async def test_max_size_counts_the_bytes_whatever_the_headers_say(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    def chunked(ex: Exchange) -> None:  # no Content-Length at all
        ex.start(200, {"Transfer-Encoding": "chunked"})
        for _ in range(20):
            ex.write(b"10000\r\n" + b"y" * 0x10000 + b"\r\n")
        ex.write(b"0\r\n\r\n")

    url = http_server.add_handler("/stream.ts", chunked)
    fetcher = make_fetcher(allow_private_networks=True, max_size=500_000)
    with pytest.raises(FetchError, match="larger than the 500000 bytes allowed"):
        await fetcher.fetch(url, destination=tmp_path / "stream.ts")
    assert no_file_in(tmp_path)
    # the same body within the limit arrives whole
    fetcher = make_fetcher(allow_private_networks=True, max_size=20 * 0x10000)
    assert await fetcher.fetch(url, destination=tmp_path / "stream.ts") == 20 * 0x10000


async def test_a_gzip_bomb_is_stopped_at_the_size_limit(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add_gzip_bomb("/bomb.mp4", 64 * 1024 * 1024)
    fetcher = make_fetcher(allow_private_networks=True, max_size=1024 * 1024)
    with pytest.raises(FetchError, match=r"larger once decoded \(gzip\) than the 1048576"):
        await fetcher.fetch(url, destination=tmp_path / "bomb.mp4")
    assert http_server.requests[0].headers["accept-encoding"] == "identity"
    assert no_file_in(tmp_path)


async def test_a_compressed_body_is_decoded(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    body = b"subtitles\n" * 10_000
    url = http_server.add_gzip("/subs.srt", body)
    fetcher = make_fetcher(allow_private_networks=True)
    assert await fetcher.fetch(url, destination=tmp_path / "subs.srt") == len(body)
    assert (tmp_path / "subs.srt").read_bytes() == body


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"Content-Encoding": "br"}, b"\x0b\x02\x80", "only gzip or deflate"),
        ({"Content-Encoding": "gzip, gzip"}, b"", "only gzip or deflate"),
        ({"Content-Encoding": "gzip"}, b"not gzip at all", "gzip body is corrupt"),
        ({"Content-Encoding": "gzip"}, gzip.compress(b"x" * 5000)[:-12], "truncated"),
    ],
)
async def test_undecodable_bodies_are_errors(
    http_server: HttpServer,
    make_fetcher: MakeFetcher,
    tmp_path: Path,
    headers: dict[str, str],
    body: bytes,
    message: str,
) -> None:
    url = http_server.add("/a.srt", body, headers=headers)
    with pytest.raises(FetchError, match=message):
        await make_fetcher(allow_private_networks=True).fetch(url, destination=tmp_path / "a")
    assert no_file_in(tmp_path)


async def test_a_server_slow_to_answer_times_out(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add_slow_first_byte("/slow.mp4", b"late", delay=5)
    fetcher = make_fetcher(allow_private_networks=True, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"did not answer within 0\.3 s"):
        await fetcher.fetch(url, destination=tmp_path / "slow.mp4")
    assert time.monotonic() - started < 2


async def test_a_slow_drip_is_stopped_by_the_deadline(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    # Each byte arrives well within the read timeout; only the total deadline stops it.
    url = http_server.add_drip("/drip.mp4", b"z" * 1000, interval=0.05)
    fetcher = make_fetcher(allow_private_networks=True, timeout=2, deadline=0.6)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"took longer than the 0\.6 s allowed"):
        await fetcher.fetch(url, destination=tmp_path / "drip.mp4")
    assert time.monotonic() - started < 2
    assert no_file_in(tmp_path)


async def test_cancelling_a_fetch_removes_the_partial_file(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add_drip("/drip.mp4", b"z" * 1000, interval=0.02, piece=10)
    fetcher = make_fetcher(allow_private_networks=True)
    destination = tmp_path / "drip.mp4"
    with anyio.move_on_after(0.4) as scope:
        await fetcher.fetch(url, destination=destination)
    assert scope.cancelled_caught
    assert not destination.exists()


# -- the client's own behaviour ----------------------------------------------------------------


async def test_proxy_variables_are_ignored(
    http_server: HttpServer,
    make_fetcher: MakeFetcher,
    tmp_path: Path,
    clean_env: MutableMapping[str, str],
) -> None:
    url = http_server.add("/clip.mp4", b"video")
    for name in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]:
        clean_env[name] = "http://127.0.0.1:9/"  # the discard port: would fail if used
    clean_env.pop("NO_PROXY", None)
    clean_env.pop("no_proxy", None)
    fetcher = make_fetcher(allow_private_networks=True)
    assert await fetcher.fetch(url, destination=tmp_path / "clip.mp4") == 5
    assert http_server.requests[0].path == "/clip.mp4"


async def test_cookies_are_never_kept(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add("/a.mp4", b"a", headers={"Set-Cookie": "session=abc; Path=/"})
    fetcher = make_fetcher(allow_private_networks=True)
    await fetcher.fetch(url, destination=tmp_path / "a1")
    await fetcher.fetch(url, destination=tmp_path / "a2")
    assert [("cookie" in r.headers) for r in http_server.requests] == [False, False]


async def test_an_existing_destination_is_an_error_and_kept(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add("/clip.mp4", b"new")
    (tmp_path / "clip.mp4").write_bytes(b"old")
    with pytest.raises(FetchError, match="cannot write"):
        await make_fetcher(allow_private_networks=True).fetch(
            url, destination=tmp_path / "clip.mp4"
        )
    assert (tmp_path / "clip.mp4").read_bytes() == b"old"


async def test_the_client_reopens_after_aclose(
    http_server: HttpServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    url = http_server.add("/clip.mp4", b"video")
    fetcher = make_fetcher(allow_private_networks=True)
    await fetcher.fetch(url, destination=tmp_path / "one")
    await fetcher.aclose()
    await fetcher.fetch(url, destination=tmp_path / "two")
    assert (tmp_path / "two").read_bytes() == b"video"


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="set by the fetcher itself"):
        HttpFetcher(headers={"Host": "elsewhere.example"})
    with pytest.raises(ConfigurationError, match="timeout"):
        HttpFetcher(timeout=0)
    with pytest.raises(ConfigurationError, match="deadline"):
        HttpFetcher(deadline=-1)
    with pytest.raises(ConfigurationError, match="must not be negative"):
        HttpFetcher(retries=-1)
    text = repr(HttpFetcher())
    assert "allow_private_networks=False" in text
    assert f"max_size={2 * 1024**3}" in text


# -- through the manager -----------------------------------------------------------------------


async def test_a_task_runs_on_an_input_from_the_http_server(
    http_server: HttpServer, media_dir: Path, tmp_path: Path
) -> None:
    url = http_server.add_file("/clip.mp4", media_dir / "clip.mp4")
    (tmp_path / "work").mkdir()
    manager = TaskManager(
        MemoryStore(),
        HttpFetcher(allow_private_networks=True),
        SubprocessRunner(),
        LocalUploader(tmp_path / "out"),
        workdir_root=tmp_path / "work",
    )
    async with manager:
        task = await manager.register("-i in.mp4 -c copy out.mp4", {"in.mp4": url}, "out.mp4")
        assert http_server.requests == []  # registering downloads nothing
        done = await manager.execute(task.id)
        assert done.status is TaskStatus.COMPLETED, done.error
        output = tmp_path / "out" / task.id / "out.mp4"
        assert output.stat().st_size > 1000
        assert [r.path for r in http_server.requests] == ["/clip.mp4"]


async def test_the_default_manager_refuses_loopback_inputs_at_register(
    http_server: HttpServer, tmp_path: Path
) -> None:
    url = http_server.add("/clip.mp4", b"video")
    manager = TaskManager(MemoryStore(), uploader=LocalUploader(tmp_path / "out"))
    async with manager:
        with pytest.raises(InvalidTaskError, match="loopback"):
            await manager.register("-i in.mp4 -c copy out.mp4", {"in.mp4": url}, "out.mp4")
    assert http_server.requests == []


async def test_a_failed_download_fails_the_task_with_the_cause(
    http_server: HttpServer, tmp_path: Path
) -> None:
    url = http_server.add("/clip.mp4", b"", status=404)
    (tmp_path / "work").mkdir()
    manager = TaskManager(
        MemoryStore(),
        HttpFetcher(allow_private_networks=True),
        SubprocessRunner(),
        LocalUploader(tmp_path / "out"),
        workdir_root=tmp_path / "work",
    )
    async with manager:
        task = await manager.register("-i in.mp4 -c copy out.mp4", {"in.mp4": url}, "out.mp4")
        done = await manager.execute(task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert "HTTP 404" in done.error
    assert "/clip.mp4" in done.error
