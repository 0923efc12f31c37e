"""The names and patterns of the files a task writes, and the two questions asked of them.

A pattern is an exact name (``poster.jpg``), an ffmpeg sequence (``thumb_%03d.jpg``: ``%d``
or ``%0Nd`` stand for a number of at least N digits) or a glob without folders
(``seg_*.ts``: ``*`` stands for any run of name characters, ``?`` for one). Every pattern
ends with a literal extension.

- After a run: does a file in the work folder belong to the outputs (:meth:`Pattern.matches`)?
- At register: can every name ffmpeg expands from a template (``seg_%v_%03d.ts``, where the
  policy has already replaced ``%v`` by each variant's name) only be a name some pattern
  matches (:func:`covered`)? The answer is a proof, never a guess: each placeholder of the
  template must fall inside one ``*`` or one digit run of the pattern.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence

import attrs

from ._errors import InvalidTaskError

__all__ = [
    "NAME_CHARACTERS",
    "SAFE_NAME",
    "Pattern",
    "Template",
    "covered",
    "covers_name",
    "declared_patterns",
    "exact_pattern",
    "parse_pattern",
    "parse_template",
]

#: Most output patterns a task may declare.
MAX_PATTERNS = 64
#: The characters of every name strict mode writes or reads.
NAME_CHARACTERS = "A-Za-z0-9._-"
#: A file name an output may have: a letter or digit first, at most 128 characters.
SAFE_NAME = re.compile(rf"[A-Za-z0-9][{NAME_CHARACTERS}]{{0,127}}")
_SAFE_CHAR = re.compile(rf"[{NAME_CHARACTERS}]")
#: ``%d`` and ``%0Nd`` (N from 1 to 9): ffmpeg's zero-padded frame numbers.
_NUMBER = re.compile(r"%(?:0([1-9]))?d")
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,8})$")

#: A token: a literal character, or a placeholder: ("*",) any run, ("?",) one character,
#: ("#", n) a number of at least n digits.
Token = tuple[str, ...] | tuple[str, int]


@attrs.frozen
class Pattern:
    """One declared output pattern, parsed."""

    text: str
    tokens: tuple[Token, ...] = attrs.field(repr=False)
    regex: re.Pattern[str] = attrs.field(repr=False, eq=False)

    @property
    def is_exact(self) -> bool:
        """True for a plain name, which matches only itself."""
        return all(token[0] == "c" for token in self.tokens)

    @property
    def extension(self) -> str:
        """The extension, lower case, without the dot."""
        match = _EXTENSION.search(self.text)
        assert match is not None  # parse_pattern refuses patterns without one
        return match.group(1).lower()

    def matches(self, name: str) -> bool:
        """Whether a file called ``name`` is one of these outputs."""
        if self.is_exact:
            return name == self.text
        return SAFE_NAME.fullmatch(name) is not None and self.regex.fullmatch(name) is not None


@attrs.frozen
class Template:
    """A name ffmpeg expands (a numbered sequence), as literal characters and numbers."""

    text: str
    tokens: tuple[Token, ...]

    @property
    def is_exact(self) -> bool:
        return all(token[0] == "c" for token in self.tokens)


def _literal(char: str) -> Token:
    return ("c", char)


def exact_pattern(name: str) -> Pattern:
    """The pattern of one plain name (already checked), which matches only itself."""
    return Pattern(name, tuple(_literal(char) for char in name), re.compile(re.escape(name)))


def parse_pattern(text: object) -> Pattern:
    """Parse a declared output pattern.

    Raises:
        ValueError: what is wrong with it, for the caller's message.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"output pattern must be a non-empty string, got {text!r}")
    if len(text) > 128:
        raise ValueError(f"output pattern {text!r} is longer than 128 characters")
    tokens: list[Token] = []
    regex: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        number = _NUMBER.match(text, index)
        if number:
            width = int(number.group(1) or 1)
            tokens.append(("#", width))
            regex.append(f"[0-9]{{{width},}}")
            index = number.end()
            continue
        if char == "*":
            tokens.append(("*",))
            regex.append(f"[{NAME_CHARACTERS}]*")
        elif char == "?":
            tokens.append(("?",))
            regex.append(f"[{NAME_CHARACTERS}]")
        elif _SAFE_CHAR.fullmatch(char):
            tokens.append(_literal(char))
            regex.append(re.escape(char))
        else:
            raise ValueError(
                f"output pattern {text!r} may use only letters, digits, '.', '_', '-', and "
                "'*', '?', '%d' or '%03d' as placeholders (no folders, no other characters)"
            )
        index += 1
    first = tokens[0]
    if first[0] == "c" and not str(first[1]).isalnum():
        raise ValueError(f"output pattern {text!r} must start with a letter, a digit or '*'")
    extension = _EXTENSION.search(text)
    if extension is None or any(t[0] != "c" for t in tokens[-len(extension.group(0)) :]):
        raise ValueError(
            f"output pattern {text!r} must end with a plain extension such as '.ts' or '.jpg'"
        )
    return Pattern(text, tuple(tokens), re.compile("".join(regex)))


def parse_template(text: str) -> Template:
    """A name as ffmpeg expands it: ``%d``/``%0Nd`` become numbers, the rest is literal.

    Raises:
        ValueError: a character outside plain names, or a ``%`` that is not a number.
    """
    tokens: list[Token] = []
    index = 0
    while index < len(text):
        number = _NUMBER.match(text, index)
        if number:
            tokens.append(("#", int(number.group(1) or 1)))
            index = number.end()
            continue
        char = text[index]
        if not _SAFE_CHAR.fullmatch(char):
            raise ValueError(char)
        tokens.append(_literal(char))
        index += 1
    return Template(text, tuple(tokens))


def covered(template: Template, patterns: Iterable[Pattern]) -> Pattern | None:
    """The first pattern that matches every name ``template`` can expand to, or None."""
    for pattern in patterns:
        if _covers(pattern.tokens, template.tokens):
            return pattern
    return None


def covers_name(template: Template, name: str) -> bool:
    """Whether ``name`` is one of the names ``template`` expands to."""
    return _covers(template.tokens, tuple(_literal(char) for char in name))


def _covers(pattern: Sequence[Token], template: Sequence[Token]) -> bool:
    """Whether an alignment exists in which each pattern token takes a run of template tokens
    it accepts whatever their values (a proof of inclusion; a miss may be a false refusal)."""
    if template and template[0][0] == "c" and not str(template[0][1]).isalnum():
        return False  # names starting with '.', '_' or '-' are never collected

    @functools.cache
    def fits(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(template)
        kind = pattern[i][0]
        if kind == "*":  # any run of name characters, placeholders included
            return any(fits(i + 1, k) for k in range(j, len(template) + 1))
        if j == len(template):
            return False
        if kind == "c":
            return template[j] == pattern[i] and fits(i + 1, j + 1)
        if kind == "?":
            return template[j][0] == "c" and fits(i + 1, j + 1)
        # a run of digits, at least as many as the pattern asks for
        width = int(pattern[i][1])
        total = 0
        for k in range(j, len(template)):
            token = template[k]
            if token[0] == "#":
                total += int(token[1])
            elif token[0] == "c" and str(token[1]).isdigit():
                total += 1
            else:
                break
            if total >= width and fits(i + 1, k + 1):
                return True
        return False

    return fits(0, 0)


def declared_patterns(
    main: str, outputs: Iterable[str], input_files: Mapping[str, str]
) -> tuple[Pattern, ...]:
    """The main output as an exact pattern, then each declared pattern once.

    Raises:
        InvalidTaskError: a pattern is malformed or could match an input.
    """
    if isinstance(outputs, str | bytes) or not isinstance(outputs, Iterable):
        raise InvalidTaskError(
            f"outputs must be a list of file names or patterns, got {type(outputs).__name__}"
        )
    declared = list(outputs)
    if len(declared) > MAX_PATTERNS:
        raise InvalidTaskError(
            f"outputs lists {len(declared)} names or patterns; the limit is {MAX_PATTERNS}"
        )
    patterns = [exact_pattern(main)]
    for text in declared:
        try:
            pattern = parse_pattern(text)
        except ValueError as exc:
            raise InvalidTaskError(str(exc)) from None
        if pattern.text in {p.text for p in patterns}:
            continue
        for name in input_files:
            if pattern.matches(name):
                raise InvalidTaskError(
                    f"output pattern {pattern.text!r} matches input {name!r}: outputs are "
                    "never inputs; narrow the pattern or rename the input"
                )
        patterns.append(pattern)
    return tuple(patterns)
