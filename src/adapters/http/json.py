"""Request bodies in: bytes -> JSON -> our attrs shapes, strictly, with every wrong field named.

Our own cattrs converter (never the global one): unknown keys are refused (`forbid_extra_keys`), an integer
must be a JSON integer (not `true`, `2.5` or `"2"`), a string a JSON string, a price a decimal string, an
array a JSON array: the forms of `adapters.strict`, which the wire's converter applies too. One difference,
at this edge only: an integral number written with a fraction or an exponent (`2.0`, `2e0`) is the integer
2. JSON has one kind of number and JSON Schema, which openapi.yaml speaks, counts 2.0 as an integer (no
keyword could exclude it), and a client's encoder may write any whole float so (Python's `json.dumps(2.0)`).
The wire's contract (asyncapi.yaml) is ours alone to write, and stays strict. Fields whose
values have a domain rule are typed with the `NewType`s below; their hooks apply the domain's own `require_*`
checks, so the edge and the core never disagree on what is valid, and cattrs' detailed validation reports all
of them at once. `field_errors` turns cattrs' exception groups into `FieldError`s named by path:
`items[0].quantity`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import Any, NewType, TypeVar, get_origin

import attrs
from cattrs import Converter
from cattrs.cols import list_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from adapters import strict
from adapters.http.problems import MALFORMED_JSON, ApiError, FieldError, InvalidRequest
from ordering_core.errors import InvalidValue
from ordering_core.values import (
    MAX_QUANTITY,
    require_id,
    require_name,
    require_price,
    require_quantity,
    require_stock,
)

T = TypeVar("T")

# Value types with a domain rule: a field typed `Quantity` is checked by `require_quantity`, and so on.
Id = NewType("Id", str)
Quantity = NewType("Quantity", int)
StockLevel = NewType("StockLevel", int)
InitialStock = NewType("InitialStock", int)
Name = NewType("Name", str)
Price = NewType("Price", Decimal)

# A value of the wrong JSON type or form; the message is what the client reads.
JsonShapeError = strict.WrongForm

# Up to here a double holds every integer exactly. Past it the float may not be what the client wrote
# (9007199254740993.0 parses as ...992), so it is left a float and refused: no bounded field comes near it.
_EXACT_INTEGERS = 2**53


def integral_numbers(document: Any) -> Any:
    """`document` with every integral number written as a float (2.0, 2e0) made the integer it is, as the
    converter reads it: so that two bodies the service reads alike are alike (an Idempotency-Key's
    fingerprint)."""
    if isinstance(document, dict):
        return {key: integral_numbers(value) for key, value in document.items()}
    if isinstance(document, list):
        return [integral_numbers(value) for value in document]
    return _integral(document)


def _integral(value: Any) -> Any:
    """An integral JSON number parsed as a float (2.0, 2e0) as the integer it is; any other value as it is."""
    if type(value) is float and value.is_integer() and abs(value) <= _EXACT_INTEGERS:
        return int(value)
    return value


def _price(value: Any, _: type) -> Decimal:
    return require_price("price", strict.money(value, strict.PRICE))


def _initial_stock(value: Any, _: type) -> int:
    # Created stock goes in through `restock`, so it has restock's upper bound; 0 means "none yet".
    value = _integral(value)
    if type(value) is int and 0 <= value <= MAX_QUANTITY:
        return value
    raise JsonShapeError(f"must be an integer from 0 to {MAX_QUANTITY}")


def _strict(check: Callable[[Any], T]) -> Callable[[Any, type], T]:
    def structure(value: Any, _: type) -> T:
        return check(value)

    return structure


def _enum_member(value: Any, cls: type[StrEnum]) -> StrEnum:
    return strict.member(value, cls)


def _domain_rule(check: Callable[[str, Any], T]) -> Callable[[Any, type], T]:
    # The field name given to the check does not matter: `field_errors` reports the path and the rule.
    def structure(value: Any, _: type) -> T:
        return check("value", value)

    return structure


def _integer_rule(check: Callable[[str, Any], T]) -> Callable[[Any, type], T]:
    """`_domain_rule` for an integer, which may come written as 2.0."""
    rule = _domain_rule(check)

    def structure(value: Any, type_: type) -> T:
        return rule(_integral(value), type_)

    return structure


def _make_converter() -> Converter:
    converter = Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(int, _strict(lambda value: strict.integer(_integral(value))))
    converter.register_structure_hook(str, _strict(strict.string))
    converter.register_structure_hook(bool, _strict(strict.boolean))
    # After `str`: the domain's enums are StrEnums, and would otherwise take the `str` hook.
    converter.register_structure_hook(StrEnum, _enum_member)
    converter.register_structure_hook(Id, _domain_rule(require_id))
    converter.register_structure_hook(Quantity, _integer_rule(require_quantity))
    converter.register_structure_hook(StockLevel, _integer_rule(require_stock))
    converter.register_structure_hook(Name, _domain_rule(require_name))
    converter.register_structure_hook(InitialStock, _initial_stock)
    converter.register_structure_hook(Price, _price)

    def json_array(cls: Any) -> Callable[[Any, Any], Any]:
        structure_items = list_structure_factory(cls, converter)

        def structure(value: Any, type_: Any) -> Any:
            if not isinstance(value, list):  # cattrs would iterate a string or an object's keys
                raise JsonShapeError("must be an array")
            return structure_items(value, type_)

        return structure

    def json_object(cls: type) -> Callable[[Any, Any], Any]:
        structure_fields: Callable[[Any, Any], Any] = converter.gen_structure_attrs_fromdict(cls)

        def structure(value: Any, type_: Any) -> Any:
            if not isinstance(value, dict):
                raise JsonShapeError("must be an object")
            return structure_fields(value, type_)

        return structure

    converter.register_structure_hook_factory(_is_list, json_array)
    converter.register_structure_hook_factory(attrs.has, json_object)
    return converter


def _is_list(type_: object) -> bool:
    # `object`, not Any: typeshed's first overload of get_origin (for a ParamSpec's args) would take an Any.
    return get_origin(type_) is list


_converter = _make_converter()


def parse_json(raw: bytes) -> Any:
    """The JSON document in `raw`, or `ApiError(MALFORMED_JSON)` saying why there is none."""
    try:
        return json.loads(raw, object_pairs_hook=_without_duplicate_keys, parse_constant=_no_constants)
    except RecursionError:
        raise ApiError(MALFORMED_JSON, "the body nests too deeply") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an integer of over 4300 digits
        raise ApiError(MALFORMED_JSON, f"the body is not JSON: {error}") from None


def structure(document: Any, cls: type[T]) -> T:
    """`document` as a `cls`, or `InvalidRequest` naming every field that is wrong."""
    try:
        return _converter.structure(document, cls)
    except (ClassValidationError, IterableValidationError, JsonShapeError, InvalidValue) as error:
        raise InvalidRequest(field_errors(error)) from None


def field_errors(error: BaseException, path: str = "") -> list[FieldError]:
    """Each leaf of cattrs' exception tree as a `FieldError` at its path (the root is "body")."""
    if isinstance(error, ClassValidationError):
        fields, whole = error.group_exceptions()
        parts = [(sub, _join(path, field.name)) for sub, field in fields]
    elif isinstance(error, IterableValidationError):
        items, whole = error.group_exceptions()
        parts = [(sub, f"{path}[{item.index}]") for sub, item in items]
    else:
        return _leaf_errors(error, path)
    parts += [(sub, path) for sub in whole]
    return [found for sub, where in parts for found in field_errors(sub, where)]


def _leaf_errors(error: BaseException, path: str) -> list[FieldError]:
    if isinstance(error, ForbiddenExtraKeysError):
        unknown = sorted(error.extra_fields)
        return [FieldError(_join(path, name), "is not a field of this request") for name in unknown]
    return [FieldError(path or "body", _message(error))]


def _message(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return "is required"
    if isinstance(error, InvalidValue):
        return error.rule
    return str(error)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"quantity": 1, "quantity": 900}: Python keeps the last, another parser the first. Refuse to guess.
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {key!r}")
        document[key] = value
    return document


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
