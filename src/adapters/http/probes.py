"""What every service answers for operations: /healthz, /readyz and /openapi.yaml.

/healthz says that the process answers (a restart is the cure when it does not), and which version of the
`ordering` distribution it runs. /readyz runs the checks the composition root injected (name -> async
callable returning None when fine, else a short reason), all at once and each with a deadline, so one hung
dependency makes the service "not ready" instead of hanging the probe. /openapi.yaml is the spec this package
carries (`openapi_spec`), so an installed wheel serves it wherever it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.distribution import installed_version
from adapters.http.problems import NOT_READY, problem

Check = Callable[[], Awaitable[str | None]]
CHECK_TIMEOUT_S = 2.0
_MAX_REASON = 200  # a reason is for a person reading a probe, not a traceback
# Package data beside this module: a copy of openapi.yaml at the repository root (pyproject.toml says why).
SPEC = "openapi.yaml"


@cache
def openapi_spec() -> bytes:
    """The OpenAPI document of the three services, as this package carries it (read once per process)."""
    return resources.files("adapters.http").joinpath(SPEC).read_bytes()


def probe_routes(readiness: Mapping[str, Check], *, check_timeout_s: float = CHECK_TIMEOUT_S) -> list[Route]:
    alive = {"status": "ok", "version": installed_version()}
    spec = openapi_spec()

    async def healthz(_request: Request) -> Response:
        return JSONResponse(alive)

    async def readyz(_request: Request) -> Response:
        reasons = await asyncio.gather(*(_run(check, check_timeout_s) for check in readiness.values()))
        checks = {name: reason or "ok" for name, reason in zip(readiness, reasons, strict=True)}
        down = [name for name, reason in zip(readiness, reasons, strict=True) if reason is not None]
        if not down:
            return JSONResponse({"status": "ready", "checks": checks})
        return problem(NOT_READY, f"not ready: {', '.join(down)}", checks=checks)

    async def openapi(_request: Request) -> Response:
        return Response(spec, media_type="application/yaml")

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.yaml", openapi, methods=["GET"]),
    ]


async def _run(check: Check, timeout_s: float) -> str | None:
    try:
        async with asyncio.timeout(timeout_s):
            reason = await check()
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except Exception as error:  # noqa: BLE001 - a check that fails is a reason to report, not a 500
        reason = f"{type(error).__name__}: {error}"
    return None if reason is None else (reason or "down")[:_MAX_REASON]
