"""The strict forms of values at every edge: one rule per kind of value, used by the HTTP bodies' converter
(`adapters.http.json`) and the wire's (`adapters.wire.converter`), so the two cannot drift apart.

A JSON integer is an integer (not `true`, `2.0` or `"2"`); a string is a JSON string; an enum's value is one
of its members' values; money is a decimal string matched whole before it reaches `Decimal`, which is far
more lenient (it takes " +1_0E-1\n" and Arabic-Indic digits). `[0-9]` rather than `\\d`, which matches every
Unicode digit; `\\Z` rather than `$`, which also matches before a final newline.

Money has two forms because the two contracts differ, on purpose:
- `MONEY` (asyncapi.yaml, Money): any amount the domain computes. A total of 10,000 units of a price of
  fifteen digits has twenty, and trailing zeros past the cents ("2.500") are the same amount.
- `PRICE` (openapi.yaml, Price): what a client may set. At most fifteen integer digits, which is more money
  than any price, so a hostile "1" * 10_000 never reaches Decimal arithmetic; at most two decimal places.

Each check raises `WrongForm` with the rule in the words a client or an operator reads ("must be an
integer"); each edge adds what it shows of the value it got.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

E = TypeVar("E", bound=StrEnum)

MONEY = re.compile(r"\A[0-9]+(?:\.[0-9]{1,2}0*)?\Z")
PRICE = re.compile(r"\A[0-9]{1,15}(?:\.[0-9]{1,2})?\Z")


class WrongForm(ValueError):
    """A value not in its contract's form; the message is the rule it breaks."""


def integer(value: Any) -> int:
    if type(value) is not int:  # `type is`, because bool is an int subclass
        raise WrongForm("must be an integer")
    return value


def string(value: Any) -> str:
    if type(value) is not str:
        raise WrongForm("must be a string")
    return value


def boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise WrongForm("must be true or false")
    return value


def member(value: Any, enum: type[E]) -> E:
    if isinstance(value, str) and value in enum._value2member_map_:
        return enum(value)
    raise WrongForm(f"must be one of {', '.join(repr(each.value) for each in enum)}")


def money(value: Any, form: re.Pattern[str] = MONEY) -> Decimal:
    """The amount `value` writes in `form` (MONEY or PRICE)."""
    if not isinstance(value, str):
        raise WrongForm('must be a decimal string such as "12.50"')
    if form.match(value) is None:
        if form is PRICE and value.startswith("-") and form.match(value[1:]) is not None:
            # A client's price, well written, only negative: say the rule it breaks, not how to write one.
            raise WrongForm("must not be negative")
        raise WrongForm(
            'must be a decimal string such as "12.50" (digits, at most two decimal places, no sign or exponent)'
        )
    return Decimal(value)
