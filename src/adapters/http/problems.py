"""Every error a service answers with, as an RFC 9457 `application/problem+json` response: the one place.

Two kinds of error reach here. The domain's tree (`ordering_core.errors`), mapped by class in `_BY_CLASS`;
and the edge's own, `ApiError`, raised by the HTTP layer for what only it can see (a body that is not JSON,
a wrong field, a reused Idempotency-Key), each naming its `ProblemType`. Starlette's own (`HTTPException`:
no such route, wrong method), the database not answering (503, by the classes the composition root names in
a `DatabaseErrors`: this room imports no database driver) and anything unexpected (500) are mapped here too.

A problem's `type` is a stable relative URI; clients branch on it. openapi.yaml lists which types each
operation can answer, and the contract tests hold every response to that list.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from attrs import frozen
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ordering_core.errors import (
    AlreadyPaid,
    CatalogUnavailable,
    HoldLimitReached,
    InvalidTransition,
    InvalidValue,
    NotPermitted,
    OrderingError,
    OrderUnavailable,
    StockNotEditable,
    UnknownOrder,
    UnknownProduct,
)

log = logging.getLogger(__name__)

# How long a client should wait before retrying a 503 or an in-flight Idempotency-Key: about the time the
# Product Service needs to come back from a restart, short enough that a person does not notice.
RETRY_AFTER_S = 2
# The largest request body read: 100 order items take about 6 KiB, so this leaves room and still stops a
# client from making the service buffer megabytes.
MAX_BODY_BYTES = 64 * 1024
# How many wrong fields an invalid request's detail names with their rules; its `errors` lists every one.
_FIELDS_SAID = 5


@frozen
class ProblemType:
    uri: str
    title: str
    status: int


MALFORMED_JSON = ProblemType("/problems/malformed-json", "The body is not JSON", 400)
INVALID_REQUEST = ProblemType("/problems/invalid-request", "The request has invalid fields", 422)
BODY_TOO_LARGE = ProblemType("/problems/body-too-large", "The body is too large", 413)
NOT_FOUND = ProblemType("/problems/not-found", "No such resource", 404)
METHOD_NOT_ALLOWED = ProblemType("/problems/method-not-allowed", "Method not allowed", 405)
UNKNOWN_ORDER = ProblemType("/problems/unknown-order", "Unknown order", 404)
UNKNOWN_PRODUCT = ProblemType("/problems/unknown-product", "Unknown product", 404)
ITEMS_UNAVAILABLE = ProblemType("/problems/items-unavailable", "Some items cannot be served", 409)
INVALID_TRANSITION = ProblemType(
    "/problems/invalid-transition", "The order's status does not allow this", 409
)
ALREADY_PAID = ProblemType("/problems/already-paid", "The order was paid with another payment", 409)
STOCK_NOT_EDITABLE = ProblemType(
    "/problems/stock-not-editable", "Stock changes only by restock and by orders", 409
)
IDEMPOTENCY_KEY_REUSED = ProblemType(
    "/problems/idempotency-key-reused", "The Idempotency-Key was used for another request", 409
)
IDEMPOTENCY_KEY_IN_FLIGHT = ProblemType(
    "/problems/idempotency-key-in-flight", "A request with this Idempotency-Key is still running", 409
)
PRODUCT_SERVICE_UNAVAILABLE = ProblemType(
    "/problems/product-service-unavailable", "The Product Service could not be asked", 503
)
UNAUTHENTICATED = ProblemType("/problems/unauthenticated", "A bearer token is required", 401)
INVALID_TOKEN = ProblemType("/problems/invalid-token", "The bearer token is not valid", 401)
FORBIDDEN = ProblemType("/problems/forbidden", "Not allowed for this caller", 403)
TOO_MANY_UNPAID_ORDERS = ProblemType(
    "/problems/too-many-unpaid-orders", "Your unpaid orders already hold as much as one customer may", 429
)
UNKNOWN_DEAD_LETTER = ProblemType("/problems/unknown-dead-letter", "No such dead letter here", 404)
KAFKA_UNAVAILABLE = ProblemType("/problems/kafka-unavailable", "Kafka could not be read or written", 503)
DATABASE_UNAVAILABLE = ProblemType(
    "/problems/database-unavailable", "The service's database did not answer", 503
)
NOT_READY = ProblemType("/problems/not-ready", "The service is not ready", 503)
INTERNAL_ERROR = ProblemType("/problems/internal-error", "The service failed", 500)
# A refusal by a domain error this module does not know yet; a test keeps the table complete.
REFUSED = ProblemType("/problems/refused", "The request was refused", 400)


@frozen
class FieldError:
    """One wrong part of a request: `field` is its path (`items[0].quantity`, `name`, `body`, `limit`)."""

    field: str
    message: str


class ApiError(Exception):
    """An error the HTTP layer finds itself; it knows its problem type and any extension members."""

    def __init__(
        self,
        kind: ProblemType,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


class InvalidRequest(ApiError):
    """Fields of the request are wrong; every one is named, not just the first."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        # The detail is a sentence a person can read alone, as the domain's InvalidValue says it ("limit must
        # be an integer from 1 to 100"), not just the names; a body with thousands of wrong keys is cut short.
        said = [f"{e.field} {e.message}" for e in self.errors]
        more = len(said) - _FIELDS_SAID
        super().__init__(
            INVALID_REQUEST,
            "; ".join(said[:_FIELDS_SAID]) + (f"; and {more} more (see errors)" if more > 0 else ""),
            errors=[{"field": e.field, "message": e.message} for e in self.errors],
        )


def _any(_error: Exception) -> bool:
    return True


@frozen
class DatabaseErrors:
    """The errors by which a service's database engine says it did not answer (it is down, failing over, or a
    lock wait timed out), as opposed to the request or the code being wrong.

    `classes` are looked up as Starlette looks up every handler, by the error's MRO; `when` then picks among
    their instances, for an engine that raises one class for both (SQLite's OperationalError is "database is
    locked" and "no such table"): an instance it refuses stays a 500. The composition root, which knows the
    engine, makes one (entrypoints.storage).
    """

    classes: tuple[type[Exception], ...] = ()
    when: Callable[[Exception], bool] = _any


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"


def problem(
    kind: ProblemType, detail: str, *, headers: Mapping[str, str] | None = None, **extensions: Any
) -> ProblemResponse:
    body = {"type": kind.uri, "title": kind.title, "status": kind.status, "detail": detail, **extensions}
    return ProblemResponse(body, status_code=kind.status, headers=dict(headers or {}))


def _plain(kind: ProblemType, *, retry: bool = False) -> Callable[[OrderingError], ProblemResponse]:
    def respond(error: OrderingError) -> ProblemResponse:
        return problem(kind, str(error), headers={"Retry-After": str(RETRY_AFTER_S)} if retry else None)

    return respond


def _unavailable_items(error: OrderUnavailable) -> ProblemResponse:
    items = [
        {
            "product_id": line.product_id,
            "quantity": line.quantity,
            "reason": str(line.reason),
            "in_stock": line.available,
        }
        for line in error.failures
    ]
    count = len(items)
    return problem(
        ITEMS_UNAVAILABLE,
        f"{count} item{'s' if count != 1 else ''} cannot be served; nothing was ordered",
        items=items,
    )


def _hold_limit_reached(error: HoldLimitReached) -> ProblemResponse:
    # When the oldest unpaid order expires its stock is free again; a whole second, and never 0 ("now").
    retry_after = max(1, math.ceil(error.retry_after.total_seconds()))
    return problem(TOO_MANY_UNPAID_ORDERS, str(error), headers={"Retry-After": str(retry_after)})


def _stock_not_editable(error: StockNotEditable) -> ProblemResponse:
    product_id = error.product_id
    return problem(
        STOCK_NOT_EDITABLE,
        f"product {product_id!r} has {error.stock} in stock; stock changes by POST /products/{product_id}/restock,"
        " not by editing the product",
    )


def _invalid_value(error: InvalidValue) -> ProblemResponse:
    # A rule the edge did not check first: the domain names the field in its own words.
    return problem(INVALID_REQUEST, str(error), errors=[{"field": error.field, "message": error.rule}])


_BY_CLASS: dict[type[OrderingError], Callable[[Any], ProblemResponse]] = {
    InvalidValue: _invalid_value,
    UnknownOrder: _plain(UNKNOWN_ORDER),
    UnknownProduct: _plain(UNKNOWN_PRODUCT),
    OrderUnavailable: _unavailable_items,
    CatalogUnavailable: _plain(PRODUCT_SERVICE_UNAVAILABLE, retry=True),
    NotPermitted: _plain(FORBIDDEN),
    StockNotEditable: _stock_not_editable,
    HoldLimitReached: _hold_limit_reached,
    AlreadyPaid: _plain(ALREADY_PAID),
    InvalidTransition: _plain(INVALID_TRANSITION),
    OrderingError: _plain(REFUSED),
}


def for_domain_error(error: OrderingError) -> ProblemResponse:
    # The first class of the error's MRO in the table: a subclass (AlreadyPaid) before its parent, and
    # OrderingError, always in the MRO, last.
    respond = next(_BY_CLASS[cls] for cls in type(error).__mro__ if cls in _BY_CLASS)
    return respond(error)


# -- Starlette exception handlers (registered by `service.build_app`) ------------------------------------

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


async def on_domain_error(request: Request, error: Exception) -> Response:
    if not isinstance(error, OrderingError):  # registered for OrderingError alone (service.build_app)
        raise error
    return _refused(request, error, for_domain_error(error))


async def on_api_error(request: Request, error: Exception) -> Response:
    if not isinstance(error, ApiError):  # registered for ApiError alone
        raise error
    return _refused(request, error, problem(error.kind, error.detail, headers=error.headers, **error.extensions))


def _refused(request: Request, error: Exception, response: Response) -> Response:
    """Log a refusal: a client's mistake is an event a person may look for (why was my order refused?)."""
    log.info(
        "request refused: %s",
        error,
        extra={"method": request.method, "path": request.url.path, "status": response.status_code},
    )
    return response


async def on_http_exception(_request: Request, error: Exception) -> Response:
    if not isinstance(error, HTTPException):  # registered for HTTPException alone
        raise error
    # The router raises these two by itself; any other status would be ours, and we raise none.
    known = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}
    status = error.status_code
    kind = known.get(status, ProblemType("about:blank", HTTPStatus(status).phrase, status))
    return problem(kind, kind.title, headers=error.headers)  # keeps `Allow` on a 405


def database_error_handlers(errors: DatabaseErrors) -> dict[type[Exception], ExceptionHandler]:
    """A handler for each of `errors`' classes: 503 database-unavailable, logged as one warning line."""

    async def on_database_unavailable(request: Request, error: Exception) -> Response:
        if not errors.when(error):
            raise error  # the engine's class, but not an outage: a bug, answered 500 with its traceback
        # Safe to retry: a unit of work that raises is rolled back as it leaves its `with` block, and the
        # Idempotency-Key it held is released (adapters.http.idempotency) or, if the release failed too,
        # held only for its lease. The one exception is a connection lost while COMMIT was on its way, whose
        # outcome the service cannot know: a retry with the same Idempotency-Key (or payment id) is then
        # answered as the first request would have been.
        response = problem(
            DATABASE_UNAVAILABLE,
            "the service's database did not answer; retry shortly (with the same Idempotency-Key, if any)",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
        # Expected while the database restarts or fails over, and says all there is: no traceback.
        log.warning(
            "database unavailable: %s: %s",
            type(error).__name__,
            " ".join(str(error).split()),  # psycopg's messages span lines
            extra={"method": request.method, "path": request.url.path, "status": response.status_code},
        )
        return response

    return dict.fromkeys(errors.classes, on_database_unavailable)


async def on_unexpected_error(_request: Request, _error: Exception) -> Response:
    # The traceback goes to the server's log (Starlette re-raises after this); the client learns nothing
    # about the internals.
    return problem(INTERNAL_ERROR, "the service failed to answer this request; it has been logged")


EXCEPTION_HANDLERS: dict[type[Exception], ExceptionHandler] = {
    OrderingError: on_domain_error,
    ApiError: on_api_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected_error,
}
