"""The Order Service's demo page: products with live stock, an order form, and the recent orders.

The browser can be trusted to reach only the Order Service (in Docker the Product Service has an internal host
name), so the page reads the products through it: `GET /catalog` is the Product Service's list as the Order
Service reads it, 503 when it cannot be read. Everything else the page does is the public API
(`POST /orders/order`, `GET /orders?sort=newest`, pay, cancel).

The page is three static files in `page/` (vanilla JS, no build step), served with a strict
Content-Security-Policy: no inline script or style, nothing from another origin. The script puts data into
the DOM as text only, never as HTML: product names are whatever a client PUT.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from adapters.http.representations import product_json
from ordering_core.products import Product

PAGE_DIR = Path(__file__).parent / "page"
# Same origin only, and no inline code: an injected `<script>` or `style=` would not run even if one got in.
# `data:` images are for the empty favicon, so the browser does not ask for /favicon.ico.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A demo is edited and reloaded: always ask again (an unchanged file answers by its ETag).
    "Cache-Control": "no-cache",
}
# path -> (file in PAGE_DIR, media type)
ASSETS = {
    "/": ("index.html", "text/html"),
    "/page/app.js": ("app.js", "text/javascript"),
    "/page/style.css": ("style.css", "text/css"),
}


class ProductListing(Protocol):
    """The Product Service's products, read by the Order Service for its page.

    Not a port of the domain: no use case lists products; only the demo page shows them.
    """

    async def products(self) -> Sequence[Product]:
        """Every product with its stock now, by id; `CatalogUnavailable` when it cannot be read."""


def page_routes(listing: ProductListing) -> list[Route]:
    """`GET /` (the page), its script and style sheet, and `GET /catalog` (the products it shows)."""

    async def catalog(_request: Request) -> Response:
        return JSONResponse([product_json(product) for product in await listing.products()])

    return [
        *(_asset_route(path, name, media_type) for path, (name, media_type) in ASSETS.items()),
        Route("/catalog", catalog, methods=["GET"]),
    ]


def _asset_route(path: str, name: str, media_type: str) -> Route:
    async def serve(_request: Request) -> Response:
        return FileResponse(PAGE_DIR / name, media_type=f"{media_type}; charset=utf-8", headers=_HEADERS)

    return Route(path, serve, methods=["GET"])
