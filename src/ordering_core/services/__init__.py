"""The use cases, one function each, grouped by the service that runs them."""

from ordering_core.services.messages import messages_for, record_customer_message
from ordering_core.services.orders import (
    cancel_order,
    expire_unpaid_orders,
    handle_reservation_rejected,
    mark_paid,
    order_for,
    orders_page,
    place_order,
)
from ordering_core.services.products import (
    apply_stock_release,
    apply_stock_reservation,
    check_availabilities,
    check_availability,
    put_product,
    restock,
)

__all__ = [
    "apply_stock_release",
    "apply_stock_reservation",
    "cancel_order",
    "check_availabilities",
    "check_availability",
    "expire_unpaid_orders",
    "handle_reservation_rejected",
    "mark_paid",
    "messages_for",
    "order_for",
    "orders_page",
    "place_order",
    "put_product",
    "record_customer_message",
    "restock",
]
