"""The Kafka topics of the system: the one list that tools, tests and services create and use.

Every record is keyed by order id, so all events of one order land on one partition, in order.
"""

from __future__ import annotations

from attrs import frozen

# Enough partitions for keys to spread and for a consumer group to share work; few enough that a
# single test broker creates them in a blink.
PARTITIONS = 3


@frozen
class Topic:
    name: str
    partitions: int = PARTITIONS
    meaning: str = ""


CREATE_ORDER = Topic("create-order", meaning="Order Service accepted an order (status unpaid).")
UPDATE_STOCK = Topic("update-stock", meaning="Take an accepted order's quantities out of stock.")
PAID_ORDER = Topic("paid-order", meaning="The customer paid an order.")
CANCEL_ORDER = Topic("cancel-order", meaning="An order was cancelled, with the reason.")
RESTORE_CANCELED_ITEM = Topic(
    "restore-canceled-item", meaning="Put back the stock a cancelled order had reserved."
)

# One topic, so the customer's messages arrive in the order the statuses happened (docs/design.md).
ORDER_STATUS = Topic("order-status", meaning="An order reached a status: unpaid, paid, or cancelled with a reason.")
STOCK_RESERVATION_REJECTED = Topic(
    "stock-reservation-rejected",
    meaning="Stock ran out between the availability check and the decrement; the order must be cancelled.",
)

# One topic per event type of ordering_core.events (a unit test holds the two lists together).
TOPICS: tuple[Topic, ...] = (
    CREATE_ORDER,
    UPDATE_STOCK,
    PAID_ORDER,
    CANCEL_ORDER,
    RESTORE_CANCELED_ITEM,
    ORDER_STATUS,
    STOCK_RESERVATION_REJECTED,
)


def dead_letter_topic(topic: str) -> str:
    """Where a consumer of `topic` puts a record it cannot apply, with the reason in its headers."""
    return f"{topic}.dlq"


# One per topic a service consumes (docs/design.md): update-stock, restore-canceled-item (Product),
# stock-reservation-rejected (Order), order-status (Message).
DEAD_LETTER_TOPICS: tuple[Topic, ...] = tuple(
    Topic(dead_letter_topic(t.name), meaning=f"Records of {t.name} that could not be applied, with the reason.")
    for t in (UPDATE_STOCK, RESTORE_CANCELED_ITEM, STOCK_RESERVATION_REJECTED, ORDER_STATUS)
)

# Which dead letters were sent back to their topic, when and by whom: keyed by the dead letter's reference
# (adapters.messaging.dead_letters), written in the replay's own transaction.
DEAD_LETTER_REPLAYS = Topic(
    "dead-letter-replays", meaning="A dead letter was sent back to its topic: when, and by which admin."
)

# What `make kafka` and the test fixture create.
ALL_TOPICS: tuple[Topic, ...] = TOPICS + DEAD_LETTER_TOPICS + (DEAD_LETTER_REPLAYS,)
