"""API keys for the HTTP API: who may call it, and which tasks each caller sees.

Framework-neutral, so any integration (FastAPI, a Starlette app of your own) checks keys the
same way. Keys are kept only as SHA-256 digests and compared in constant time; a task is
registered with an *owner id* derived from the key (never the key itself), and each caller sees
only the tasks of its own key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from typing import Literal

from .._errors import ConfigurationError

__all__ = ["ENV_VAR", "HEADER", "ApiKeys", "owner_id"]

#: Comma-separated API keys; unset or empty leaves the API open.
ENV_VAR = "FFMPEG_TASKS_API_KEYS"
#: The header that carries a key; ``Authorization: Bearer <key>`` works too.
HEADER = "X-API-Key"
#: Hex characters of the key's SHA-256 kept as the owner id (64 bits: unique, not reversible).
OWNER_ID_LENGTH = 16


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("latin-1", errors="replace")).digest()


def owner_id(key: str) -> str:
    """The owner id stored on the tasks a key registers: the first 16 hex chars of its SHA-256."""
    return _digest(key).hex()[:OWNER_ID_LENGTH]


class ApiKeys:
    """The configured keys, held only as SHA-256 digests.

    Args:
        keys: The accepted keys. Printable ASCII without spaces or commas (they travel in
            HTTP headers and in a comma-separated variable). Empty: the API is open.

    Raises:
        ConfigurationError: a key is empty or has other characters; the message gives its
            position, never the key.
    """

    def __init__(self, keys: Iterable[str] = ()) -> None:
        if isinstance(keys, str | bytes):
            raise ConfigurationError(
                "api_keys must be a list of keys, not one string: use api_keys=[key]"
            )
        digests = []
        for position, key in enumerate(keys, start=1):
            if not isinstance(key, str) or not key:
                raise ConfigurationError(f"API key #{position} is empty or not a string")
            if not all("!" <= char <= "~" and char != "," for char in key):
                raise ConfigurationError(
                    f"API key #{position} has characters other than printable ASCII "
                    "(no spaces, no commas); generate keys with e.g. "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
            digests.append(_digest(key))
        self._digests = tuple(dict.fromkeys(digests))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiKeys:
        """The keys in ``FFMPEG_TASKS_API_KEYS`` (comma-separated; blanks around commas ignored).

        Raises:
            ConfigurationError: the variable is set but holds no usable key.
        """
        raw = (os.environ if environ is None else environ).get(ENV_VAR, "")
        if not raw.strip():
            return cls()
        keys = [part.strip() for part in raw.split(",") if part.strip()]
        if not keys:
            raise ConfigurationError(
                f"{ENV_VAR} holds no key: give comma-separated keys, or unset it for an open API"
            )
        try:
            return cls(keys)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{ENV_VAR}: {exc}") from None

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._digests)} keys)"

    @property
    def enabled(self) -> bool:
        """True when callers must present a key."""
        return bool(self._digests)

    @property
    def mode(self) -> Literal["none", "api-key"]:
        """``"api-key"`` or ``"none"``, as the health endpoint reports it."""
        return "api-key" if self.enabled else "none"

    def owner_of(self, presented: str | None) -> str | None:
        """The owner id of the configured key equal to ``presented``, or None.

        Every configured key is compared, with :func:`hmac.compare_digest` on SHA-256 digests
        (equal lengths), and the loop never exits early: the time taken does not tell how close
        a guess was, nor which key matched.
        """
        if presented is None:
            return None
        candidate = _digest(presented)
        matched: bytes | None = None
        for digest in self._digests:
            if hmac.compare_digest(candidate, digest):
                matched = digest
        return None if matched is None else matched.hex()[:OWNER_ID_LENGTH]
