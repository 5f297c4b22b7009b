"""Idempotency-Key for POST /orders/order: a retried request gets the first answer, not a second order.

A key is the customer's own: every store keeps keys per (customer id, key), so two customers who happen to
choose the same key make two requests, and neither is ever given the other's order.

A customer's key goes through three states in an `IdempotencyStore`:

    free --claim--> held (the first request is running) --bind, with the order--> answered
                       \\                                         (for IDEMPOTENCY_KEY_TTL_S, 24 h; then free)
                       \\--release (that request failed; a retry may use the key)--> free

`claim` is the one atomic step: of two requests racing with one key, exactly one holds it; the other sees
it held and is told to retry (409 in flight). A repeat of an answered key with the same body gets the stored
answer byte for byte; with another body, 409. The answer is bound in the order's own transaction
(`KeyedPlacement`: the order's unit of work writes it with the order), so a crash leaves either no order and
the key held (after the store's lease a retry places the order) or the order and its answered key (a retry
gets the answer): never an order whose key is free for a second one. tests/contract/test_idempotency_crashes.py
crashes at every step and retries. A request cancelled while it runs (the server shutting down) is treated
as a crash: its order may have been committed on the writer thread meanwhile, so its key is not released.

The store (`ordering_core.ports.IdempotencyStore`) is storage like any other: each of its steps is handed to
the service's `Offload`, never run on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

from adapters.http.json import integral_numbers
from adapters.http.problems import IDEMPOTENCY_KEY_IN_FLIGHT, IDEMPOTENCY_KEY_REUSED, RETRY_AFTER_S, ApiError
from ordering_core.ports import IdempotencyStore, Offload, Reply


def fingerprint(document: Any) -> str:
    """The same for the same JSON, whatever its spacing, key order, or how it writes an integer (2 or 2.0,
    which the service reads alike)."""
    canonical = json.dumps(
        integral_numbers(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def once(
    store: IdempotencyStore,
    offload: Offload,
    customer_id: str,
    key: str,
    request_fingerprint: str,
    now: datetime,
    act: Callable[[], Awaitable[Reply]],
) -> tuple[Reply, bool]:
    """Run `act` at most once per key of the customer's: its reply and False, or the reply stored before and
    True. `act` binds its reply to the key in the transaction of the work it does (`KeyedPlacement`), so a
    crash cannot separate the two. `customer_id` is the verified caller's, never a value from the request."""
    remembered = await offload(partial(store.claim, customer_id, key, request_fingerprint, now))
    if remembered is not None:
        if remembered.fingerprint != request_fingerprint:
            raise ApiError(
                IDEMPOTENCY_KEY_REUSED,
                "this Idempotency-Key was used with a different body; use a new key for a new order",
            )
        if remembered.reply is None:
            raise ApiError(
                IDEMPOTENCY_KEY_IN_FLIGHT,
                "a request with this Idempotency-Key is still being served; retry shortly",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        return remembered.reply, True
    try:
        reply = await act()
    except asyncio.CancelledError:
        raise  # held until the lease runs out, as after a crash: the order may be committed (module docstring)
    except BaseException:  # a refusal, a 503 or a bug: none of them bound the key
        await offload(partial(store.release, customer_id, key))
        raise
    return reply, False
