"""ffmpeg's arithmetic expressions (libavutil/eval.c): refused when they call a function that
loops or prints, and folded when constant so that their value can be bounded."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

__all__ = ["ExpressionError", "evaluate"]

#: Functions a caller may use: pure arithmetic, no loops, no logging.
ALLOWED_FUNCTIONS = frozenset(
    {
        "abs", "acos", "asin", "atan", "atan2", "between", "bitand", "bitor", "ceil", "clip",
        "cos", "cosh", "eq", "exp", "floor", "gauss", "gcd", "gt", "gte", "hypot", "if",
        "ifnot", "isinf", "isnan", "ld", "lerp", "log", "lt", "lte", "max", "min", "mod",
        "not", "pow", "random", "randomi", "round", "sgn", "sin", "sinh", "sqrt", "squish",
        "st", "tan", "tanh", "trunc",
    }
)  # fmt: skip
#: Every function name eval.c's parse_primary knows. A name at the start of a primary that is
#: not a number or constant is a function call *whatever follows it*: ffmpeg takes the
#: arguments from the next ``(`` anywhere after it, so ``while*abs(1,1)`` runs ``while(1,1)``.
EVAL_FUNCTIONS = ALLOWED_FUNCTIONS | {"print", "root", "taylor", "time", "while"}
#: ffmpeg's built-in constants.
CONSTANTS = {"E": math.e, "PI": math.pi, "PHI": (1 + math.sqrt(5)) / 2, "QP2LAMBDA": 118.0}
#: Longest expression accepted, in characters.
MAX_LENGTH = 512

# av_strtod's SI prefixes (libavutil/eval.c).
_SI_PREFIXES = {
    "y": -24, "z": -21, "a": -18, "f": -15, "p": -12, "n": -9, "u": -6, "m": -3, "c": -2,
    "d": -1, "h": 2, "k": 3, "K": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18, "Z": 21,
    "Y": 24,
}  # fmt: skip
# av_strtod reads text that starts with "0x" with strtoul: a hex integer, no sign, no fraction.
_HEX_INTEGER = re.compile(r"0[xX][0-9a-fA-F]+")
# Anything else with C's strtod, which takes a sign of its own (so "++0x1p4", after the sign
# parse_pow eats, is a signed hex float), "inf", "nan", hex floats and decimals.
_STRTOD = re.compile(
    r"[+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?"
    r"|(?i:inf(?:inity)?|nan)|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
)
_ULONG_MAX = 2**64 - 1
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# libavutil's av_isspace: what av_expr_parse drops before parsing, and nothing else.
_AV_SPACES = re.compile(r"[ \t\n\v\f\r]")


def _finite_or_same(function: Callable[[float], float]) -> Callable[[Sequence[float]], float]:
    """C's floor/ceil/trunc/round return inf and nan unchanged; Python's raise."""
    return lambda v: v[0] if not math.isfinite(v[0]) else float(function(v[0]))


def _c_round(value: float) -> float:
    return math.copysign(math.floor(abs(value) + 0.5), value)  # half away from zero, as C


def _c_max(v: Sequence[float]) -> float:
    return max(v[1], v[0])  # eval.c's comparison: max(nan, 5) is 5


def _c_min(v: Sequence[float]) -> float:
    return min(v[0], v[1])


def _c_clip(v: Sequence[float]) -> float:
    value, low, high = v
    if math.isnan(value) or math.isnan(low) or math.isnan(high) or low > high:
        return math.nan
    return low if value < low else min(value, high)


def _c_mod(v: Sequence[float]) -> float:
    quotient = _divide(v[0], v[1])  # eval.c: d - floor(d / d2) * d2, not fmod
    whole = quotient if not math.isfinite(quotient) else math.floor(quotient)
    return v[0] - whole * v[1]


def _c_sqrt(v: Sequence[float]) -> float:
    return math.nan if v[0] < 0 else math.sqrt(v[0])


#: Functions folded when their arguments are constant, each with the argument counts for which
#: eval.c computes the same thing; any other call stays unknown.
_FOLDABLE: dict[str, tuple[frozenset[int], Callable[[Sequence[float]], float]]] = {
    "abs": (frozenset({1}), lambda v: abs(v[0])),
    "ceil": (frozenset({1}), _finite_or_same(math.ceil)),
    "floor": (frozenset({1}), _finite_or_same(math.floor)),
    "trunc": (frozenset({1}), _finite_or_same(math.trunc)),
    "round": (frozenset({1}), _finite_or_same(_c_round)),
    "sqrt": (frozenset({1}), _c_sqrt),
    "max": (frozenset({2}), _c_max),
    "min": (frozenset({2}), _c_min),
    "pow": (frozenset({2}), lambda v: _power(v[0], v[1])),
    "hypot": (frozenset({2}), lambda v: math.hypot(v[0], v[1])),
    "if": (frozenset({2, 3}), lambda v: v[1] if v[0] else (v[2] if len(v) > 2 else 0.0)),
    "ifnot": (frozenset({2, 3}), lambda v: v[1] if not v[0] else (v[2] if len(v) > 2 else 0.0)),
    "clip": (frozenset({3}), _c_clip),
    "mod": (frozenset({2}), _c_mod),
}


class ExpressionError(ValueError):
    """The expression cannot be parsed, or uses a function that is not allowed."""


def evaluate(text: str) -> float | None:
    """Check an expression; return its value when it uses no variables, else None.

    White space is removed first, as ffmpeg does: only ``av_isspace``'s six ASCII characters.
    Anything else (a no-break space, ``\x1c``) reaches the parser and is refused, where
    Python's idea of white space would hide a name's end (``while\u00a0n`` is ``while`` to
    ffmpeg, ``whilen`` to ``str.split``). Numbers follow ``av_strtod``: ``1k`` is
    1000, ``1Ki`` 1024, ``2M`` 2e6, ``1B`` 8, ``0x10`` 16.

    Raises:
        ExpressionError: bad syntax, an unknown character, or a disallowed function.
    """
    source = _AV_SPACES.sub("", text)
    if not source:
        raise ExpressionError("the expression is empty")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    parser = _Parser(source)
    value = parser.expression()
    if parser.pos != len(source):
        raise ExpressionError(f"unexpected {source[parser.pos :][:20]!r}")
    return value


class _Parser:
    """Recursive descent following eval.c: ``;`` < ``+ -`` < ``* /`` < sign, ``^``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.depth = 0

    def _peek(self) -> str:
        return self.source[self.pos] if self.pos < len(self.source) else ""

    def expression(self) -> float | None:
        self.depth += 1
        if self.depth > 100:
            raise ExpressionError("the expression nests too deeply")
        value = self._sum()
        while self._peek() == ";":
            self.pos += 1
            value = self._sum()
        self.depth -= 1
        return value

    def _sum(self) -> float | None:
        value = self._term()
        while self._peek() in ("+", "-"):
            # The sign belongs to the next factor, as in eval.c's parse_subexpr.
            right = self._term()
            value = None if value is None or right is None else value + right
        return value

    def _term(self) -> float | None:
        value = self._factor()
        while self._peek() in ("*", "/"):
            operator = self._peek()
            self.pos += 1
            right = self._factor()
            if value is None or right is None:
                value = None
            elif operator == "*":
                value = value * right
            else:
                value = _divide(value, right)
        return value

    def _factor(self) -> float | None:
        sign, value = self._signed_primary()
        while self._peek() == "^":
            self.pos += 1
            exponent_sign, exponent = self._signed_primary()
            if value is None or exponent is None:
                value = None
            else:
                value = _power(value, exponent_sign * exponent)
        return None if value is None else sign * value

    def _signed_primary(self) -> tuple[float, float | None]:
        """eval.c's parse_dB and parse_pow: one sign, kept by the number in ``-3dB``."""
        char = self._peek()
        if char == "-":
            number = _STRTOD.match(self.source, self.pos)
            if number and self.source.startswith("dB", number.end()):
                return 1.0, self._primary()  # -3dB is 10^(-3/20), not -(3dB)
        if char in ("+", "-"):
            self.pos += 1
            return (-1.0 if char == "-" else 1.0), self._primary()
        return 1.0, self._primary()

    def _primary(self) -> float | None:
        char = self._peek()
        if char == "(":
            self.pos += 1
            value = self.expression()
            self._expect(")")
            return value
        number = _HEX_INTEGER.match(self.source, self.pos) or _STRTOD.match(self.source, self.pos)
        if number:
            return self._number(number.group())
        name = _IDENTIFIER.match(self.source, self.pos)
        if not name:
            shown = char or "the end"
            raise ExpressionError(f"unexpected {shown!r} at position {self.pos}")
        self.pos = name.end()
        function = name.group()
        if self._peek() != "(":
            if function in CONSTANTS:
                return CONSTANTS[function]
            if function in EVAL_FUNCTIONS:
                # ffmpeg would call it with the arguments of the next '(' it finds.
                raise ExpressionError(
                    f"{function!r} is the name of a function; ffmpeg calls it even without "
                    f"'(' right after it, so write {function}(...) or use another name"
                )
            return None  # a variable of the filter: unknown here
        if function not in ALLOWED_FUNCTIONS:
            raise ExpressionError(f"function {function!r} is not allowed")
        self.pos += 1
        values = [self.expression()]
        while self._peek() == ",":
            self.pos += 1
            values.append(self.expression())
        self._expect(")")
        arities, fold = _FOLDABLE.get(function, (frozenset(), None))
        if fold is None or len(values) not in arities or any(v is None for v in values):
            return None
        try:
            return fold([v for v in values if v is not None])
        except OverflowError:
            return math.inf

    def _number(self, digits: str) -> float:
        self.pos += len(digits)
        try:
            if _HEX_INTEGER.fullmatch(digits):
                value = float(min(int(digits, 16), _ULONG_MAX))  # strtoul saturates
            else:
                value = float.fromhex(digits) if "x" in digits.lower() else float(digits)
        except OverflowError:
            value = math.copysign(math.inf, -1.0 if digits.startswith("-") else 1.0)
        rest = self.source[self.pos : self.pos + 2]
        if rest == "dB":
            self.pos += 2
            value = _power(10.0, value / 20)
        elif rest[:1] in _SI_PREFIXES:
            exponent = _SI_PREFIXES[rest[:1]]
            if rest[1:2] == "i":
                value *= _power(2.0, exponent / 0.3)
                self.pos += 2
            else:
                value *= _power(10.0, exponent)
                self.pos += 1
        if self._peek() == "B":
            value *= 8
            self.pos += 1
        return value

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            found = self._peek() or "the end"
            raise ExpressionError(f"expected {char!r} at position {self.pos}, found {found!r}")
        self.pos += 1


def _divide(left: float, right: float) -> float:
    if right == 0:
        return math.nan if left == 0 else math.copysign(math.inf, left)
    return left / right


def _power(base: float, exponent: float) -> float:
    """C's pow: where Python's raises, C gives an infinity or nan."""
    base, exponent = float(base), float(exponent)
    odd = math.isfinite(exponent) and exponent.is_integer() and abs(exponent) % 2 == 1
    try:
        return math.pow(base, exponent)
    except OverflowError:
        return -math.inf if base < 0 and odd else math.inf
    except ValueError:
        if base == 0:  # to a negative power
            return math.copysign(math.inf, base) if odd else math.inf
        return math.nan  # a negative base to a fractional power
