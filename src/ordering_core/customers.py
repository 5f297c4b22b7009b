"""Who is asking: the caller of a use case, and what they may see and do with an order.

Every order belongs to the customer who placed it. The services learn who a caller is from a verified token
(its subject is the customer id, its roles come from a claim); this module only says what that caller may do:

    the owning customer  sees the order, lists it among their own, cancels it
    another customer     does not see it: to them it does not exist (so an order id tells them nothing)
    role payments        records payments (a payment is the payment provider's word, not the customer's)
    role admin           sees, lists and acts on every order, and records payments

A customer may not record their own payment: one who could would get goods for free.
"""

from __future__ import annotations

from enum import StrEnum

import attrs
from attrs import frozen

from ordering_core.errors import InvalidValue
from ordering_core.orders import Order
from ordering_core.values import require_customer_id, rule

# The owner of the orders placed before orders had owners: a database made by an earlier release is upgraded
# with this id on its orders and messages, and an event of an earlier schema version is read with it. The
# parentheses keep it apart from any real subject in practice; the token verifier refuses it as a subject,
# so only an admin sees those orders.
UNIDENTIFIED_CUSTOMER = "(unidentified)"


class Role(StrEnum):
    ADMIN = "admin"
    PAYMENTS = "payments"


def _require_roles(field: str, value: object) -> frozenset[Role]:
    if not isinstance(value, frozenset) or not all(isinstance(role, Role) for role in value):
        raise InvalidValue(field, "must be a frozenset of Role members", value)
    return value


@frozen
class Caller:
    """A verified identity: `customer_id` is the token's subject, `roles` the roles it grants."""

    customer_id: str = attrs.field(validator=rule(require_customer_id))
    roles: frozenset[Role] = attrs.field(default=frozenset(), validator=rule(_require_roles))

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def records_payments(self) -> bool:
        return Role.PAYMENTS in self.roles or self.is_admin

    def sees(self, order: Order) -> bool:
        """Whether the order exists for this caller: their own, or any for an admin."""
        return self.is_admin or order.customer_id == self.customer_id

    @property
    def listed_customer(self) -> str | None:
        """Whose orders and messages a listing shows this caller: their own, or everyone's (None) for an admin."""
        return None if self.is_admin else self.customer_id
