"""The SSRF address rules (fetchers/_addresses.py) and the bounded body decoder, without I/O."""

from __future__ import annotations

import gzip
import zlib
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ffmpeg_tasks.fetchers._addresses import ip_literal, refusal
from ffmpeg_tasks.fetchers._decoding import PIECE, Decoder

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "185.199.108.153",
    "2606:4700:4700::1111",
    "2a00:1450:4001:82b::200e",
    "::ffff:8.8.8.8",  # mapped: the packets go to 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]

#: address, words of the reason, lifted by allow_private_networks
REFUSED = [
    ("127.0.0.1", "loopback", True),
    ("127.255.255.254", "loopback", True),
    ("10.0.0.1", "private", True),
    ("172.16.0.1", "private", True),
    ("172.31.255.255", "private", True),
    ("192.168.0.1", "private", True),
    ("100.64.0.1", "carrier-grade NAT", True),
    ("100.127.255.255", "carrier-grade NAT", True),
    ("169.254.169.254", "cloud metadata", False),
    ("169.254.0.1", "link-local", False),
    ("0.0.0.0", "0.0.0.0/8", False),
    ("0.1.2.3", "0.0.0.0/8", False),
    ("224.0.0.1", "multicast", False),
    ("239.255.255.250", "multicast", False),
    ("240.0.0.1", "reserved", False),
    ("255.255.255.255", "broadcast", False),
    ("192.0.0.8", "IETF protocol", False),
    ("192.0.2.1", "documentation", False),
    ("198.51.100.1", "documentation", False),
    ("203.0.113.1", "documentation", False),
    ("198.18.0.1", "benchmarking", False),
    ("192.88.99.1", "6to4 relay", False),
    ("::1", "loopback", True),
    ("::", "unspecified", False),
    ("fd00::1", "unique local", True),
    ("fc00::1", "unique local", True),
    ("fe80::1", "link-local", False),
    ("fec0::1", "site-local", True),
    ("ff02::1", "multicast", False),
    ("ff0e::1", "multicast", False),
    ("2001:db8::1", "documentation", False),
    ("3fff::1", "documentation", False),
    ("100::1", "discard-only", False),
    ("4000::1", "outside 2000::/3", False),
    ("::ffff:127.0.0.1", "IPv4-mapped address carrying 127.0.0.1, which is a loopback", True),
    ("::ffff:10.1.1.1", "IPv4-mapped address carrying 10.1.1.1", True),
    ("::ffff:169.254.169.254", "carrying 169.254.169.254, which is a link-local", False),
    ("::ffff:0.0.0.0", "carrying 0.0.0.0", False),
    ("64:ff9b::7f00:1", "NAT64 address carrying 127.0.0.1", True),
    ("64:ff9b::a9fe:a9fe", "NAT64 address carrying 169.254.169.254", False),
    ("64:ff9b:1::a00:1", "local-use NAT64", False),
    ("::127.0.0.1", "IPv4-compatible address carrying 127.0.0.1", False),
    ("::8.8.8.8", "IPv4-compatible address (deprecated)", False),
    ("2002:7f00:1::", "6to4 address carrying 127.0.0.1", False),
    ("2002:a9fe:a9fe::1", "6to4 address carrying 169.254.169.254", False),
    ("2002:808:808::1", "6to4 address (deprecated)", False),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo", False),
    ("2001:0:7f00:1::", "Teredo", False),
    ("2001:2::1", "IETF protocol", False),
    ("fe80::1%eth0", "scoped", False),
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None
    assert refusal(ip_address(address)) is None


@pytest.mark.parametrize(("address", "reason", "private"), REFUSED)
def test_non_public_addresses_are_refused(address: str, reason: str, private: bool) -> None:
    found = refusal(address)
    assert found is not None
    assert reason in found.reason
    assert found.private is private
    # allow_private lifts exactly the private ones
    assert (refusal(address, allow_private=True) is None) is private


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_mapped_and_nat64_forms_share_the_ipv4_verdict(number: int) -> None:
    ipv4 = IPv4Address(number)
    mapped = IPv6Address(f"::ffff:{ipv4}")
    nat64 = IPv6Address(f"64:ff9b::{ipv4}")
    for allow in (False, True):
        verdict = refusal(ipv4, allow_private=allow) is None
        assert (refusal(mapped, allow_private=allow) is None) is verdict
        assert (refusal(nat64, allow_private=allow) is None) is verdict


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_deprecated_tunnels_are_always_refused(number: int) -> None:
    ipv4 = IPv4Address(number)
    sixtofour = IPv6Address((0x2002 << 112) | (number << 80) | 1)
    assert sixtofour.sixtofour == ipv4
    assert refusal(sixtofour, allow_private=True) is not None
    if number > 1:
        assert refusal(IPv6Address(number), allow_private=True) is not None  # ::a.b.c.d


@given(st.ip_addresses())
def test_never_more_lenient_than_the_standard_library(address: IPv4Address | IPv6Address) -> None:
    if not address.is_global:
        assert refusal(address) is not None
    if address.is_loopback or address.is_multicast or address.is_link_local:
        assert refusal(address) is not None
    if address.is_link_local or address.is_multicast or address.is_unspecified:
        assert refusal(address, allow_private=True) is not None


# -- host spellings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", IPv4Address("127.0.0.1")),
        ("8.8.8.8", IPv4Address("8.8.8.8")),
        ("8.8.8.8.", IPv4Address("8.8.8.8")),
        ("::1", IPv6Address("::1")),
        ("2606:4700::1", IPv6Address("2606:4700::1")),
        ("example.com", None),
        ("example.com.", None),
        ("media-1.cdn.example", None),
        ("_service.example", None),
        ("xn--bcher-kva.de", None),
        ("localhost", None),
        ("0x.example", None),
        ("1.example", None),
    ],
)
def test_ip_literal_reads_addresses_and_names(
    host: str, expected: IPv4Address | IPv6Address | None
) -> None:
    assert ip_literal(host) == expected


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7F.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("3232235521", "192.168.0.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("010.8.8.8", "8.8.8.8"),
        ("1.2.3.04", "1.2.3.4"),
    ],
)
def test_odd_ipv4_spellings_are_refused_naming_the_address(host: str, address: str) -> None:
    with pytest.raises(ValueError, match=f"spelling of the IPv4 address {address};"):
        ip_literal(host)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("1.2.3.4.5", "ends in a number but is not an IPv4 address"),
        ("example.123", "ends in a number"),
        ("256.1.1.1", "ends in a number"),
        ("0x", "ends in a number"),
        ("a..b", "not a valid host name"),
        ("-a.example", "not a valid host name"),
        ("a%20b", "not a valid host name"),
        ("a" * 64 + ".example", "not a valid host name"),
        ("fe80::1%eth0", "zone identifier"),
        ("1:2:3", "not a valid IPv6 address"),
    ],
)
def test_malformed_hosts_are_refused(host: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ip_literal(host)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_number_spelling_is_caught(number: int) -> None:
    dotted = str(IPv4Address(number))
    for spelling in (str(number), hex(number), f"0{number:o}"):
        with pytest.raises(ValueError, match=f"IPv4 address {dotted};"):
            ip_literal(spelling)
    assert ip_literal(dotted) == IPv4Address(number)


# -- bounded decoding ---------------------------------------------------------------------------


def decode_all(decoder: Decoder, data: bytes, step: int = 65536) -> list[bytes]:
    pieces: list[bytes] = []
    for start in range(0, len(data), step):
        pieces.extend(decoder.decode(data[start : start + step]))
    decoder.finish()
    return pieces


@pytest.mark.parametrize("coding", ["", "identity", " Identity "])
def test_identity_passes_through(coding: str) -> None:
    decoder = Decoder(coding)
    assert decoder.coding is None
    pieces = decode_all(decoder, b"abc" * 10, step=7)
    assert [len(piece) for piece in pieces] == [7, 7, 7, 7, 2]
    assert b"".join(pieces) == b"abc" * 10


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "GZIP", "identity, gzip"])
def test_gzip_is_decoded(coding: str) -> None:
    body = bytes(range(256)) * 4000
    assert b"".join(decode_all(Decoder(coding), gzip.compress(body))) == body


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_with_and_without_zlib_header(wbits: int) -> None:
    body = b"deflate me " * 5000
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = packer.compress(body) + packer.flush()
    assert b"".join(decode_all(Decoder("deflate"), packed)) == body


def test_a_bomb_comes_out_in_bounded_pieces() -> None:
    size = 64 * 1024 * 1024
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    packed = packer.compress(bytes(size)) + packer.flush()
    assert len(packed) < size // 500
    decoder = Decoder("gzip")
    total = 0
    for start in range(0, len(packed), 65536):
        for piece in decoder.decode(packed[start : start + 65536]):
            assert len(piece) <= PIECE
            total += len(piece)
    decoder.finish()
    assert total == size


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br", "gzip, gzip"])
def test_other_codings_are_refused(coding: str) -> None:
    with pytest.raises(ValueError, match="only gzip or deflate"):
        Decoder(coding)


def test_corrupt_and_truncated_bodies() -> None:
    with pytest.raises(ValueError, match="corrupt"):
        list(Decoder("gzip").decode(b"this is not gzip"))
    with pytest.raises(ValueError, match="corrupt"):
        list(Decoder("deflate").decode(b"\xff\xfe not deflate either"))
    packed = gzip.compress(b"x" * 100_000)
    decoder = Decoder("gzip")
    list(decoder.decode(packed[: len(packed) // 2]))
    with pytest.raises(ValueError, match="truncated"):
        decoder.finish()
