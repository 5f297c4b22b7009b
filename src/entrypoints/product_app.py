"""The Product Service's HTTP app: the catalog, restocking and the availability check (openapi.yaml).

The catalog and the availability check are public; creating, renaming, repricing and restocking a product
need the role admin (`adapters.http.access`). `create_app` takes every dependency; nothing here connects or
reads the environment. A use case that writes is handed to `offload` and awaited (in production it goes
to the database's writer thread while the stock consumer writes: the loop never waits for that
transaction); the catalog and the availability check read the committed state on the loop, which never
waits in WAL mode. The stock ledger is not here: it is driven by the Kafka consumer the composition root
runs in `lifespan`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.http.access import Endpoint, Verifier, admin_only, public
from adapters.http.bodies import ItemsBody, ProductBody, QuestionsBody, RestockBody
from adapters.http.json import structure
from adapters.http.probes import Check
from adapters.http.problems import DatabaseErrors
from adapters.http.representations import availability_json, product_json
from adapters.http.service import Lifespan, build_app, read_json
from ordering_core.customers import Caller
from ordering_core.errors import UnknownProduct
from ordering_core.ports import Offload, ProductUnitOfWork, ProductViews
from ordering_core.services.products import check_availabilities, check_availability, put_product, restock


def create_app(
    *,
    uow: Callable[[], ProductUnitOfWork],
    offload: Offload,
    views: ProductViews,
    verifier: Verifier,
    new_id: Callable[[], str],
    readiness: Mapping[str, Check],
    lifespan: Lifespan | None = None,
    on_commit: Callable[[], None] | None = None,
    registry: CollectorRegistry | None = None,
    dead_letters: Sequence[Endpoint] = (),
    unavailable: DatabaseErrors | None = None,
) -> Starlette:
    """The Product Service.

    `uow` makes a fresh unit of work per request, run by `offload` when it writes; `verifier` checks the
    admins' bearer tokens; `new_id` makes correlation ids for requests without one; `on_commit` is called after
    a request committed a change (a product created, edited or restocked); `registry` is what GET /metrics
    reports, the HTTP metrics added (a new one when not given); `dead_letters` are the dead-letter
    operations (entrypoints.dead_letters), none when not given; `unavailable` the errors by which
    the database says it did not answer, each answered 503 (entrypoints.storage; none when not given).
    """
    api = _ProductApi(uow, offload, views, on_commit or _nothing)
    endpoints = [
        public("/products", api.list),
        # Before /products/{product_id}, whose path it also matches.
        public("/products/availability", api.availability, methods=["POST"]),
        public("/products/availability/batch", api.availability_batch, methods=["POST"]),
        public("/products/{product_id}", api.get),
        admin_only("/products/{product_id}", api.put, methods=["PUT"]),
        admin_only("/products/{product_id}/restock", api.restock, methods=["POST"]),
        *dead_letters,
    ]
    return build_app(
        endpoints,
        verifier=verifier,
        new_id=new_id,
        readiness=readiness,
        lifespan=lifespan,
        registry=registry,
        unavailable=unavailable,
    )


class _ProductApi:
    def __init__(
        self,
        uow: Callable[[], ProductUnitOfWork],
        offload: Offload,
        views: ProductViews,
        on_commit: Callable[[], None],
    ) -> None:
        self._uow = uow
        self._offload = offload
        self._views = views
        self._on_commit = on_commit

    async def list(self, _request: Request) -> Response:
        return JSONResponse([product_json(product) for product in self._views.products()])

    async def get(self, request: Request) -> Response:
        product_id = request.path_params["product_id"]
        product = self._views.product(product_id)
        if product is None:
            raise UnknownProduct(product_id)
        return JSONResponse(product_json(product))

    async def availability(self, request: Request) -> Response:
        lines = structure(await read_json(request), ItemsBody).lines()
        return JSONResponse(availability_json(check_availability(lines, uow=self._uow())))

    async def availability_batch(self, request: Request) -> Response:
        questions = structure(await read_json(request), QuestionsBody).lines()
        answers = check_availabilities(questions, uow=self._uow())
        return JSONResponse({"answers": [availability_json(answer) for answer in answers]})

    async def put(self, request: Request, _admin: Caller) -> Response:
        product_id = request.path_params["product_id"]
        body = structure(await read_json(request), ProductBody)
        put = await self._offload(
            partial(put_product, product_id, body.name, body.price, stock=body.stocks, uow=self._uow())
        )
        self._on_commit()
        if not put.created:
            return JSONResponse(product_json(put.product))
        return JSONResponse(
            product_json(put.product), status_code=201, headers={"Location": f"/products/{product_id}"}
        )

    async def restock(self, request: Request, _admin: Caller) -> Response:
        body = structure(await read_json(request), RestockBody)
        product = await self._offload(
            partial(restock, request.path_params["product_id"], body.quantity, uow=self._uow())
        )
        self._on_commit()
        return JSONResponse(product_json(product))


def _nothing() -> None:
    """Nothing to wake (tests, or a composition root with no outbox relay for product edits)."""
