"""The baseline for bench/run_bench.py: a bare Starlette app that answers a JSON POST with the same JSON.

    python -m uvicorn --app-dir bench echo_app:app --host 127.0.0.1 --port P --no-access-log
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(await request.json())


app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
