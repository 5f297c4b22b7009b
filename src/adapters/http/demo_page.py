"""The Order Service's demo page: products with live stock, an order form, and the recent orders.

The browser can be trusted to reach only the Order Service (in Docker the Product Service has an internal host
name), so the page reads the products through it: `GET /catalog` is the Product Service's list as the Order
Service reads it, 503 when it cannot be read. Everything else the page does is the public API
(`POST /orders/order`, `GET /orders?sort=newest`, pay, cancel).

The page is static files in `page/`: the HTML, a style sheet, and vanilla JS as ES modules (no build step:
`app.js` imports the others by relative URL), served with a strict Content-Security-Policy: no inline script
or style, nothing from another origin. The scripts put data into the DOM as text only, never as HTML:
product names are whatever a client PUT. The page and the products are public; the orders are the signed-in
customer's (the page keeps a pasted token for the tab).

`DemoSignIn` is the page's one-click sign-in, for trying the system on one machine: `POST /demo/sign-in`
answers a new demo customer's token and a payments token, so the page's Pay button can act as the payment
provider. It exists only when the composition root is given one (`make run` switches it on with
DEMO_SIGN_IN), and it answers only a request that came in over loopback, from loopback: anyone who can
reach it can mint tokens, so it must never face a network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from adapters.http.access import Endpoint, public
from adapters.http.loopback import is_loopback
from adapters.http.problems import NOT_FOUND, ApiError
from adapters.http.representations import product_json
from ordering_core.customers import Role
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
# path -> (file in PAGE_DIR, media type): every file the page loads, and nothing else. A module's type must be
# JavaScript, or the browser refuses to run it (and nosniff forbids guessing).
ASSETS = {
    "/": ("index.html", "text/html"),
    "/page/style.css": ("style.css", "text/css"),
    "/page/app.js": ("app.js", "text/javascript"),  # the entry module: index.html loads it
    "/page/api.js": ("api.js", "text/javascript"),
    "/page/session.js": ("session.js", "text/javascript"),
    "/page/sign-in.js": ("sign-in.js", "text/javascript"),
    "/page/refresh.js": ("refresh.js", "text/javascript"),
    "/page/products.js": ("products.js", "text/javascript"),
    "/page/orders.js": ("orders.js", "text/javascript"),
    "/page/commands.js": ("commands.js", "text/javascript"),
    "/page/dom.js": ("dom.js", "text/javascript"),
}


class ProductListing(Protocol):
    """The Product Service's products, read by the Order Service for its page.

    Not a port of the domain: no use case lists products; only the demo page shows them.
    """

    async def products(self) -> Sequence[Product]:
        """Every product with its stock now, by id; `CatalogUnavailable` when it cannot be read."""


class Issuer(Protocol):
    def token(self, customer_id: str, *, roles: Iterable[Role] = (), ttl_s: float = 3600) -> str:
        """A signed token for `customer_id` with these roles, valid for `ttl_s` seconds."""


class DemoSignIn:
    """Tokens for the demo page: a new demo customer per sign-in, and a payments token for its Pay button."""

    def __init__(self, issuer: Issuer, new_id: Callable[[], str], *, ttl_s: float = 3600) -> None:
        self._issuer = issuer
        self._new_id = new_id
        self.ttl_s = ttl_s

    def sign_in(self) -> dict[str, object]:
        customer_id = f"demo-{self._new_id()[:8]}"
        return {
            "customer_id": customer_id,
            "token": self._issuer.token(customer_id, ttl_s=self.ttl_s),
            "payments_token": self._issuer.token("demo-payment-provider", roles=[Role.PAYMENTS], ttl_s=self.ttl_s),
            "expires_in": int(self.ttl_s),
        }


def page_endpoints(listing: ProductListing, demo_sign_in: DemoSignIn | None = None) -> list[Endpoint]:
    """`GET /` (the page), its scripts and style sheet, `GET /catalog` (the products it shows), and with
    `demo_sign_in`, `POST /demo/sign-in`: all public."""

    async def catalog(_request: Request) -> Response:
        return JSONResponse([product_json(product) for product in await listing.products()])

    endpoints = [
        *(_asset(path, name, media_type) for path, (name, media_type) in ASSETS.items()),
        public("/catalog", catalog),
    ]
    if demo_sign_in is not None:

        async def sign_in(request: Request) -> Response:
            if not over_loopback(request):
                raise ApiError(NOT_FOUND, "no such resource")  # as if it did not exist: it must not, there
            return JSONResponse(demo_sign_in.sign_in(), headers={"Cache-Control": "no-store"})

        endpoints.append(public("/demo/sign-in", sign_in, methods=["POST"]))
    return endpoints


# Set by a reverse proxy: a request it forwards comes over loopback from it, but from someone else.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


def over_loopback(request: Request) -> bool:
    """Whether the request came from a loopback address to a loopback address of this server, for a loopback
    host, and not through a proxy on this machine (which would make anyone's request look local).

    The Host check stops DNS rebinding: a web page whose name an attacker points at 127.0.0.1 reaches the
    service from the victim's own browser, over loopback, but asks for the attacker's host name.
    """
    ends = [request.scope.get("client"), request.scope.get("server")]
    forwarded = any(name in request.headers for name in FORWARDING_HEADERS)
    host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
    return is_loopback(host) and not forwarded and all(end is not None and is_loopback(end[0]) for end in ends)


def _asset(path: str, name: str, media_type: str) -> Endpoint:
    async def serve(_request: Request) -> Response:
        return FileResponse(PAGE_DIR / name, media_type=f"{media_type}; charset=utf-8", headers=_HEADERS)

    return public(path, serve)
