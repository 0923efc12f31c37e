"""Undo a response's Content-Encoding with bounded memory, so a gzip bomb cannot fill it.

The fetcher asks for ``Accept-Encoding: identity``, but a server may compress anyway. httpx's
own decoders inflate each network read in one call, and a 64 KiB read of a gzip bomb inflates
to about 64 MiB at once; here ``zlib``'s ``max_length`` keeps every piece at most
:data:`PIECE` bytes, so the caller can count decoded bytes and stop at its size limit before
memory grows. Only gzip and deflate are undone (what zlib does); other codings are refused.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

__all__ = ["PIECE", "Decoder"]

#: The most bytes one decoded piece holds.
PIECE = 1024 * 1024

_GZIP = zlib.MAX_WBITS | 16
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS


class Decoder:
    """Decodes one body, piece by piece.

    Args:
        content_encoding: The response's ``Content-Encoding`` header ("" when absent).

    Raises:
        ValueError: a coding other than identity, gzip or deflate, or more than one.
    """

    def __init__(self, content_encoding: str) -> None:
        codings = [
            coding.strip().lower()
            for coding in content_encoding.split(",")
            if coding.strip().lower() not in {"", "identity"}
        ]
        if len(codings) > 1 or (codings and codings[0] not in {"gzip", "x-gzip", "deflate"}):
            raise ValueError(
                f"the server sent Content-Encoding {content_encoding!r}; only gzip or deflate "
                "(or none) can be decoded"
            )
        #: The coding undone, or None for identity.
        self.coding = codings[0] if codings else None
        self._wbits = _GZIP if self.coding in {"gzip", "x-gzip"} else _ZLIB
        self._inflater = zlib.decompressobj(self._wbits) if self.coding else None
        self._started = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Yield the decoded pieces of the next raw chunk.

        Raises:
            ValueError: the compressed data is corrupt.
        """
        if self._inflater is None:
            if data:
                yield data
            return
        try:
            yield from self._inflate(data)
        except zlib.error as exc:
            if self._started or self._wbits != _ZLIB:
                raise ValueError(f"the {self.coding} body is corrupt: {exc}") from exc
            # Some servers send raw deflate without the zlib header: retry as such.
            self._wbits = _RAW_DEFLATE
            self._inflater = zlib.decompressobj(_RAW_DEFLATE)
            try:
                yield from self._inflate(data)
            except zlib.error as again:
                raise ValueError(f"the {self.coding} body is corrupt: {again}") from again

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        inflater = self._inflater
        assert inflater is not None
        while not inflater.eof:
            piece = inflater.decompress(data, PIECE)
            if piece:
                self._started = True
                yield piece
            data = inflater.unconsumed_tail
            # A full piece may leave output pending inside zlib even once the input is used.
            if not data and len(piece) < PIECE:
                return

    def finish(self) -> None:
        """Check the body ended where the compressed stream did.

        Raises:
            ValueError: the compressed stream stopped before its end.
        """
        if self._inflater is not None and not self._inflater.eof:
            raise ValueError(f"the {self.coding} body was truncated before its end")
