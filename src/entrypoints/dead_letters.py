"""The dead-letter operations each consuming service answers, for admins only (openapi.yaml, "Dead letters").

    GET  /dead-letters[?topic=T]    what this service set aside, and why, oldest first per partition
    GET  /dead-letters/{ref}        one of them whole: key, headers, value
    POST /dead-letters/replay       {"refs": [...]} or {"topic": "..."}: send them back to their topic

A service answers for the dead-letter topics of the topics it consumes (`DeadLetters.topics`); another
topic, or a ref of one, is 404. Every call reads Kafka and blocks (adapters.messaging.dead_letters), so it
runs on a worker thread of Starlette's pool, never on the event loop. `on_replayed` is called after a
replay (the gauge of dead letters waiting counts again).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.http.access import Endpoint, admin_only
from adapters.http.bodies import ReplayBody
from adapters.http.json import structure
from adapters.http.problems import (
    KAFKA_UNAVAILABLE,
    RETRY_AFTER_S,
    UNKNOWN_DEAD_LETTER,
    ApiError,
    FieldError,
    InvalidRequest,
)
from adapters.http.service import read_json
from adapters.messaging.broker import MessagingError
from adapters.messaging.dead_letters import (
    DeadLetter,
    DeadLetterRef,
    DeadLetters,
    MalformedRef,
    UnknownDeadLetter,
)
from ordering_core.customers import Caller


def dead_letter_endpoints(desk: DeadLetters, *, on_replayed: Callable[[], None] = lambda: None) -> list[Endpoint]:
    api = _DeadLetterApi(desk, on_replayed)
    return [
        admin_only("/dead-letters", api.list),
        # Before /dead-letters/{ref}, whose path it also matches.
        admin_only("/dead-letters/replay", api.replay, methods=["POST"]),
        admin_only("/dead-letters/{ref}", api.show),
    ]


class _DeadLetterApi:
    def __init__(self, desk: DeadLetters, on_replayed: Callable[[], None]) -> None:
        self._desk = desk
        self._on_replayed = on_replayed

    async def list(self, request: Request, _admin: Caller) -> Response:
        topic = request.query_params.get("topic") or None
        listed = await _off_the_loop(self._desk.listing, topic)
        return JSONResponse({"dead_letters": [summary_json(dead) for dead in listed]})

    async def show(self, request: Request, _admin: Caller) -> Response:
        ref = _checked_refs([request.path_params["ref"]], field="ref")[0]
        return JSONResponse(detail_json(await _off_the_loop(self._desk.show, ref)))

    async def replay(self, request: Request, admin: Caller) -> Response:
        chosen = structure(await read_json(request), ReplayBody).chosen()
        if isinstance(chosen, str):
            replayed = await _off_the_loop(self._desk.replay_topic, chosen, by=admin.customer_id)
        else:
            refs = _checked_refs(chosen, field="refs")
            replayed = await _off_the_loop(self._desk.replay, refs, by=admin.customer_id)
        if replayed:
            self._on_replayed()
        return JSONResponse({"replayed": [summary_json(dead) for dead in replayed]})


async def _off_the_loop(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return await run_in_threadpool(call, *args, **kwargs)
    except UnknownDeadLetter as error:
        raise ApiError(UNKNOWN_DEAD_LETTER, str(error)) from None
    except MessagingError as error:
        raise ApiError(
            KAFKA_UNAVAILABLE, f"{type(error).__name__}: {error}", headers={"Retry-After": str(RETRY_AFTER_S)}
        ) from None


def _checked_refs(refs: Sequence[str], *, field: str) -> list[str]:
    """`refs` if each is a well-formed reference, else `InvalidRequest` naming every one that is not."""
    errors = []
    for at, ref in enumerate(refs):
        try:
            DeadLetterRef.parse(ref)
        except MalformedRef as error:
            errors.append(FieldError(field if field == "ref" else f"{field}[{at}]", str(error)))
    if errors:
        raise InvalidRequest(errors)
    return list(refs)


def summary_json(dead: DeadLetter) -> dict[str, Any]:
    return {
        "ref": str(dead.ref),
        "topic": dead.topic,
        "partition": dead.partition,
        "offset": dead.offset,
        "reason": dead.reason,
        "dead_lettered_at": None if dead.dead_lettered_at is None else dead.dead_lettered_at.isoformat(),
        "event": dead.event,
        "order_id": dead.order_id,
        "message_id": dead.message_id,
        "replayed": None
        if dead.replayed is None
        else {"replayed_at": dead.replayed.replayed_at.isoformat(), "by": dead.replayed.by},
    }


def detail_json(dead: DeadLetter) -> dict[str, Any]:
    return {
        **summary_json(dead),
        "key": None if dead.key is None else _bytes_json(dead.key, as_json=False),
        "headers": [{"name": name, **_bytes_json(value, as_json=False)} for name, value in dead.headers],
        "value": _bytes_json(dead.value, as_json=True),
    }


def _bytes_json(raw: bytes, *, as_json: bool) -> dict[str, Any]:
    """Bytes as a person can read them: `{"json": ...}` when they parse (values), else `{"text": ...}` when
    they are UTF-8, else `{"base64": ...}`."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode()}
    if as_json:
        try:
            return {"json": json.loads(text, parse_constant=_no_constants)}
        except ValueError:
            pass
    return {"text": text}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON a client can read")  # NaN, Infinity: shown as text instead
