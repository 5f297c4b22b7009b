"""What every service answers for operations: /healthz, /readyz and /openapi.yaml.

/healthz says only that the process answers (a restart is the cure when it does not). /readyz runs the
checks the composition root injected (name -> async callable returning None when fine, else a short reason),
all at once and each with a deadline, so one hung dependency makes the service "not ready" instead of
hanging the probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from adapters.http.problems import NOT_READY, problem

Check = Callable[[], Awaitable[str | None]]
CHECK_TIMEOUT_S = 2.0
_MAX_REASON = 200  # a reason is for a person reading a probe, not a traceback


def probe_routes(
    readiness: Mapping[str, Check], *, openapi_path: Path, check_timeout_s: float = CHECK_TIMEOUT_S
) -> list[Route]:
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        reasons = await asyncio.gather(*(_run(check, check_timeout_s) for check in readiness.values()))
        checks = {name: reason or "ok" for name, reason in zip(readiness, reasons, strict=True)}
        down = [name for name, reason in zip(readiness, reasons, strict=True) if reason is not None]
        if not down:
            return JSONResponse({"status": "ready", "checks": checks})
        return problem(NOT_READY, f"not ready: {', '.join(down)}", checks=checks)

    async def openapi(_request: Request) -> Response:
        return FileResponse(openapi_path, media_type="application/yaml")

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
