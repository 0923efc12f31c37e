"""CommandPolicy: which ffmpeg commands a TaskManager accepts, and the argv it actually runs.

FIRST CUT (to be replaced by the strict allow-list policy): ``strict`` only applies the
structural checks of ``_command`` and passes the arguments through.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._command import ParsedCommand

__all__ = ["CommandPolicy"]


@attrs.frozen(kw_only=True)
class CommandPolicy:
    """What commands are accepted and which guards are added before ffmpeg runs."""

    #: True when every command is accepted as given (an application's explicit choice).
    is_trusted: bool = False

    @classmethod
    def strict(cls) -> CommandPolicy:
        """The default: an allow-list for commands that may come from strangers."""
        return cls()

    @classmethod
    def trusted(cls) -> CommandPolicy:
        """Accept any command: only for callers the application trusts (a notebook, a script)."""
        return cls(is_trusted=True)

    def check(
        self, parsed: ParsedCommand, *, input_files: Mapping[str, str], output_filename: str
    ) -> None:
        """Refuse a command this policy does not allow.

        Raises:
            InvalidTaskError: naming the offending token.
        """

    def build_args(self, parsed: ParsedCommand, *, output_filename: str) -> tuple[str, ...]:
        """The exact arguments to run (without the program name), guards included."""
        return parsed.args
