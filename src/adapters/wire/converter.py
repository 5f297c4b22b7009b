"""The wire's values, strictly: the cattrs converter the codec reads and writes events with, and the reasons
its refusals become.

Each kind of wire value has one hook that takes only the contract's exact form (asyncapi.yaml): money a decimal
string, an integer a JSON integer, a time RFC 3339 with an offset, an array a JSON array, an object every one
of its fields and no other. `problems` turns what the converter raised into "what @ where" reasons, each field
named by its path in the JSON value (`must be an integer from 1 to 10000, got 0 @ data.lines[0].quantity`).
`adapters.wire.codec` is the one user: it builds events from these values and says which topic and version.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, get_args, get_origin

import attrs
from cattrs import BaseConverter, ClassValidationError, IterableValidationError
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.dispatch import StructureHook
from cattrs.errors import AttributeValidationNote, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn
from cattrs.preconf.json import make_converter

from adapters import strict
from ordering_core import InvalidValue

# The contract's forms (asyncapi.yaml, components/schemas), matched whole before a value reaches datetime,
# which is far more lenient: fromisoformat takes "2026-11-25 13:00+05". Money, integers, strings and enums
# have the forms of `adapters.strict`, which the HTTP bodies' converter applies too.
MONEY = strict.MONEY
TIMESTAMP = re.compile(
    # RFC 3339 (section 5.6), upper-case T and Z as the contract's pattern has them, seconds required; the
    # offset's hours and minutes are bounded here because fromisoformat reads "+05:75" as 6 h 15 min.
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z"
)

# A value echoed back in a reason is cut to this length: a reason travels in a dead-letter header and a log
# line, where a hostile megabyte string has no place.
_MAX_SHOWN = 80


def shown(value: object) -> str:
    """`repr(value)`, cut to _MAX_SHOWN characters."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


# --- writing ------------------------------------------------------------------------------------------------


def _money_text(value: Decimal) -> str:
    # str() writes some values the domain accepts in exponent notation (Decimal("1E+2") -> "1E+2"), which the
    # contract refuses; "f" always writes plain digits. The domain has no rule against -0 (it equals 0), but
    # the contract has no sign, so a zero is written without one.
    return format(value.copy_abs() if value.is_zero() else value, "f")


def _timestamp_text(value: datetime) -> str:
    # An RFC 3339 offset is whole minutes; a Python offset may have seconds (zoneinfo's local mean times,
    # such as Amsterdam's +00:19:32 until 1937), which isoformat() writes as "+00:19:32", outside the
    # contract. Such a time is written as the same instant in UTC rather than refused: the instant is what
    # the event records and what consumers compare, and refusing would make a valid event unpublishable.
    offset = value.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        value = value.astimezone(UTC)
    return value.isoformat()


# --- reading: one hook per kind of wire value ---------------------------------------------------------------


def _money(value: Any, _: type) -> Decimal:
    try:
        return strict.money(value)
    except strict.WrongForm as error:
        raise _showing(error, value) from None


def _strict_int(value: Any, _: type) -> int:
    # cattrs would turn "3" or 3.9 into 3; a quantity must arrive as a JSON integer (and True is not 1).
    try:
        return strict.integer(value)
    except strict.WrongForm as error:
        raise TypeError(f"{error}, got {type(value).__name__}") from None


def _strict_str(value: Any, _: type) -> str:
    try:
        return strict.string(value)
    except strict.WrongForm as error:
        raise TypeError(f"{error}, got {type(value).__name__}") from None


def _enum_member(value: Any, cls: type[StrEnum]) -> StrEnum:
    try:
        return strict.member(value, cls)
    except strict.WrongForm as error:
        raise ValueError(f"{error}, got {shown(value)}") from None


def _showing(error: strict.WrongForm, value: Any) -> ValueError | TypeError:
    """The rule, and what was got: a miswritten amount's text (cut: a reason travels in a dead-letter header),
    else only its JSON type."""
    if isinstance(value, str):
        return ValueError(f"{error}, got {shown(value)}")
    return TypeError(f"{error}, got {type(value).__name__}")


def _timestamp(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"must be a date-time string, got {type(value).__name__}")
    if TIMESTAMP.match(value) is None:
        raise ValueError(
            "must be an RFC 3339 date-time with seconds and a UTC offset, such as "
            f'"2026-11-25T13:00:00+00:00", got {shown(value)}'
        )
    try:
        # Digits beyond microseconds are dropped: the contract allows them, a datetime cannot hold them.
        return datetime.fromisoformat(value)
    except ValueError as error:  # the calendar: February 30, hour 24, second 60
        raise ValueError(f"is not a valid date-time ({error}), got {shown(value)}") from None


def _is_homogeneous_tuple(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _json_array(cls: Any, converter: BaseConverter) -> StructureHook:
    # cattrs makes a tuple of any iterable: a string would become one line per character, an object one line
    # per key. The contract says array.
    structure = homogenous_tuple_structure_factory(cls, converter)

    def hook(value: Any, _: type) -> Any:
        if not isinstance(value, list):
            raise TypeError(f"must be a JSON array, got {type(value).__name__}")
        return structure(value, cls)

    return hook


def _json_object(cls: type, converter: BaseConverter) -> StructureHook:
    """The attrs class `cls` from a JSON object holding every one of its fields.

    The contract requires every key, even one whose value may be null (`causation_id`, the `reason` of
    order-status): a producer that leaves one out is not writing this schema, whatever the domain class's
    default. So a missing field is refused here before the default could fill it in.
    """
    structure: StructureHook = make_dict_structure_fn(
        cls, converter, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
    )
    defaulted = [field for field in attrs.fields(cls) if field.default is not attrs.NOTHING]

    def hook(value: Any, _: type) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"must be a JSON object, got {type(value).__name__}")
        missing = [field for field in defaulted if field.name not in value]
        if missing:
            raise ClassValidationError(
                f"While structuring {cls.__name__}", [_missing(field, cls) for field in missing], cls
            )
        return structure(value, cls)

    return hook


def _missing(field: attrs.Attribute[Any], cls: type) -> KeyError:
    # Noted as cattrs notes its own missing fields, so `_problems` finds its path the same way.
    error = KeyError(field.name)
    error.add_note(
        AttributeValidationNote(
            f"Structuring class {cls.__name__} @ attribute {field.name}", field.name, field.type
        )
    )
    return error


def make_wire_converter() -> Any:
    """Our own converter (never cattrs' global one): the hooks above for every kind of wire value."""
    converter = make_converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(Decimal, _money_text)
    converter.register_structure_hook(Decimal, _money)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(str, _strict_str)
    # The domain's enums are StrEnums: without their own hook, the `str` one above would catch them.
    converter.register_structure_hook(StrEnum, _enum_member)
    converter.register_structure_hook(datetime, _timestamp)
    converter.register_unstructure_hook(datetime, _timestamp_text)
    converter.register_structure_hook_factory(_is_homogeneous_tuple, _json_array)
    converter.register_structure_hook_factory(attrs.has, _json_object)
    return converter


# --- reading: reasons ---------------------------------------------------------------------------------------

Step = str | int  # a field name or a list index


def _wire_path(steps: tuple[Step, ...]) -> str:
    """Where a field of the structured event is in the JSON value.

    The converter builds an event from `{**data, "envelope": {...}}`: on the wire the envelope's fields are
    at the top of the value and the event's own fields are under `data`.
    """
    steps = steps[1:] if steps[:1] == ("envelope",) else ("data", *steps)
    path = ""
    for step in steps:
        path += f"[{step}]" if isinstance(step, int) else f".{step}" if path else step
    return path or "value"


def problems(error: BaseException, steps: tuple[Step, ...] = ()) -> list[str]:
    """Every problem under `error` (raised while structuring the field at `steps`) as "what @ where"."""
    if isinstance(error, ClassValidationError | IterableValidationError):
        noted, unnoted = error.group_exceptions()
        found = []
        for inner, note in noted:
            step = note.name if isinstance(note, AttributeValidationNote) else note.index
            found += problems(inner, (*steps, step))
        for inner in unnoted:
            found += problems(inner, steps)
        return found
    if isinstance(error, InvalidValue):
        # A domain class's own rule refused the object at `steps`; the field it names is one of its fields.
        return [f"{error.rule}, got {shown(error.value)} @ {_wire_path((*steps, error.field))}"]
    if isinstance(error, KeyError):
        what = "required field missing"
    elif isinstance(error, ForbiddenExtraKeysError):
        what = f"unexpected fields: {', '.join(sorted(error.extra_fields))}"
    elif isinstance(error, ValueError | TypeError):
        what = str(error)  # the hooks' own words
    elif isinstance(error, ArithmeticError):
        # Decimal overflows past an exponent of 999999: amounts of a million digits (the contract's pattern
        # has no bound) multiplied and added up by the domain's rules.
        what = f"the amounts are too large to compute with ({type(error).__name__})"
    else:
        what = f"invalid value ({type(error).__name__})"
    return [f"{what} @ {_wire_path(steps)}"]
