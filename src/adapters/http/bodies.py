"""What the services accept: the request bodies (structured by `json.structure`) and query parameters.

The attrs classes here are shapes of JSON, not domain values; each field's type says which domain rule
checks it (see `json.py`). openapi.yaml describes the same shapes for clients.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from adapters.http.json import Id, InitialStock, Name, Price, Quantity
from adapters.http.problems import FieldError, InvalidRequest
from ordering_core.errors import InvalidValue
from ordering_core.values import Line, merge_lines, require_id

MAX_PAGE = 100
DEFAULT_PAGE = 20


@frozen
class ItemBody:
    product_id: Id
    quantity: Quantity


@frozen
class ItemsBody:
    """POST /orders/order and POST /products/availability."""

    items: list[ItemBody]

    def lines(self) -> tuple[Line, ...]:
        """The items as lines, merged per product; `InvalidRequest` when their number or a total is off."""
        try:
            return merge_lines(Line(item.product_id, item.quantity) for item in self.items)
        except InvalidValue as error:
            raise InvalidRequest([FieldError("items", error.rule)]) from None


MAX_QUESTIONS = 100


@frozen
class QuestionsBody:
    """POST /products/availability/batch: the items of several orders, each set answered on its own."""

    questions: list[ItemsBody]

    def lines(self) -> list[tuple[Line, ...]]:
        """Each question's items as lines, merged per product; `InvalidRequest` naming every question that is
        off, or when there are none or too many."""
        if not 1 <= len(self.questions) <= MAX_QUESTIONS:
            raise InvalidRequest([FieldError("questions", f"must hold from 1 to {MAX_QUESTIONS} questions")])
        asked: list[tuple[Line, ...]] = []
        errors: list[FieldError] = []
        for index, question in enumerate(self.questions):
            try:
                asked.append(question.lines())
            except InvalidRequest as error:
                errors += [FieldError(f"questions[{index}].{e.field}", e.message) for e in error.errors]
        if errors:
            raise InvalidRequest(errors)
        return asked


@frozen
class ProductBody:
    """PUT /products/{product_id}: `stocks` counts only when the product is created."""

    name: Name
    price: Price
    stocks: InitialStock | None = None


@frozen
class RestockBody:
    quantity: Quantity


@frozen
class PaymentBody:
    order_id: Id
    payment_id: Id | None = None

    @property
    def effective_payment_id(self) -> str:
        # Without a payment id the order id stands in: deterministic, so repeating the call is a no-op.
        return self.payment_id if self.payment_id is not None else self.order_id


@frozen
class CancelBody:
    order_id: Id


MAX_REFS = 1_000


@frozen
class ReplayBody:
    """POST /dead-letters/replay: the dead letters named, or every one of a topic not replayed yet."""

    refs: list[str] | None = None
    topic: str | None = None

    def chosen(self) -> list[str] | str:
        """The refs, or the topic; `InvalidRequest` unless exactly one of the two is given."""
        if (self.refs is None) == (self.topic is None):
            raise InvalidRequest([FieldError("body", "must have exactly one of refs and topic")])
        if self.refs is not None and not 1 <= len(self.refs) <= MAX_REFS:
            raise InvalidRequest([FieldError("refs", f"must list 1 to {MAX_REFS} references")])
        return self.refs if self.refs is not None else str(self.topic)


def required_query_id(params: Mapping[str, str], name: str) -> str:
    """An id the query string must hold, or `InvalidRequest` naming the parameter."""
    value = optional_query_id(params, name)
    if value is None:
        raise InvalidRequest([FieldError(name, "is required")])
    return value


def optional_query_id(params: Mapping[str, str], name: str) -> str | None:
    """An id from the query string if it holds one, or `InvalidRequest` naming the parameter.

    An empty value (`?after=`) is no value: what a form or a URL template sends for "none", and no id is
    empty, so it cannot mean anything else.
    """
    value = params.get(name)
    if not value:
        return None
    try:
        return require_id(name, value)
    except InvalidValue as error:
        raise InvalidRequest([FieldError(name, error.rule)]) from None


SORTS = ("oldest", "newest")


def query_newest_first(params: Mapping[str, str]) -> bool:
    """`sort=newest` (True) or `sort=oldest`, the default (False)."""
    raw = params.get("sort", SORTS[0])
    if raw not in SORTS:
        raise InvalidRequest([FieldError("sort", f"must be one of {', '.join(SORTS)}")])
    return raw == "newest"


def query_limit(params: Mapping[str, str]) -> int:
    raw = params.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    # isdigit() alone would take a superscript two or an Arabic-Indic one; the digits must be ASCII.
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_PAGE):
        raise InvalidRequest([FieldError("limit", f"must be an integer from 1 to {MAX_PAGE}")])
    return int(raw)
