"""The Message Service's HTTP app: what each order's customer was told (openapi.yaml, "Message Service").

Read-only: messages are recorded by the `order-status` consumer the composition root runs in `lifespan`.
A signed-in customer reads their own orders' messages; an admin any order's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.http.access import Endpoint, Verifier, signed_in
from adapters.http.bodies import required_query_id
from adapters.http.probes import Check
from adapters.http.problems import DatabaseErrors
from adapters.http.representations import message_json
from adapters.http.service import Lifespan, build_app
from ordering_core.customers import Caller
from ordering_core.ports import MessageViews
from ordering_core.services.messages import messages_for


def create_app(
    *,
    views: MessageViews,
    verifier: Verifier,
    new_id: Callable[[], str],
    readiness: Mapping[str, Check],
    lifespan: Lifespan | None = None,
    registry: CollectorRegistry | None = None,
    dead_letters: Sequence[Endpoint] = (),
    unavailable: DatabaseErrors | None = None,
) -> Starlette:
    """The Message Service; `verifier` checks bearer tokens; `new_id` makes correlation ids for requests that
    come without one; `registry` is what GET /metrics reports, the HTTP metrics added (a new one when not
    given); `dead_letters` are the dead-letter operations (entrypoints.dead_letters), none when not given;
    `unavailable` the errors by which the database says it did not answer, each answered 503
    (entrypoints.storage; none when not given)."""

    async def messages(request: Request, caller: Caller) -> Response:
        order_id = required_query_id(request.query_params, "order_id")
        told = messages_for(order_id, caller=caller, views=views)
        return JSONResponse([message_json(message) for message in told])

    return build_app(
        [signed_in("/messages", messages), *dead_letters],
        verifier=verifier,
        new_id=new_id,
        readiness=readiness,
        lifespan=lifespan,
        registry=registry,
        unavailable=unavailable,
    )
