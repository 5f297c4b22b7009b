"""Who may see and do what with an order: its customer, another customer, the payment provider, an admin."""

from __future__ import annotations

import pytest

from ordering_core import UNIDENTIFIED_CUSTOMER, Caller, InvalidValue, Role

from .examples import CUSTOMER, order

OWNER = Caller(CUSTOMER)
ANOTHER_CUSTOMER = Caller("customer-b")
PAYMENT_PROVIDER = Caller("payment-provider", frozenset({Role.PAYMENTS}))
ADMIN = Caller("admin-1", frozenset({Role.ADMIN}))


class TestWhoSeesAnOrder:
    def test_its_customer_sees_it(self) -> None:
        assert OWNER.sees(order(customer_id=CUSTOMER))

    def test_another_customer_does_not(self) -> None:
        assert not ANOTHER_CUSTOMER.sees(order(customer_id=CUSTOMER))

    @pytest.mark.parametrize("owner", [CUSTOMER, "customer-b", UNIDENTIFIED_CUSTOMER])
    def test_an_admin_sees_every_order(self, owner: str) -> None:
        assert ADMIN.sees(order(customer_id=owner))

    def test_the_payment_provider_does_not_see_orders_by_its_role(self) -> None:
        # It records payments (below) but reads no one's orders: the role is for that one act.
        assert not PAYMENT_PROVIDER.sees(order(customer_id=CUSTOMER))

    def test_an_order_placed_before_orders_had_owners_is_seen_by_no_customer(self) -> None:
        unowned = order(customer_id=UNIDENTIFIED_CUSTOMER)

        assert [caller.sees(unowned) for caller in (OWNER, ANOTHER_CUSTOMER, ADMIN)] == [False, False, True]


class TestWhoRecordsPayments:
    @pytest.mark.parametrize("caller", [PAYMENT_PROVIDER, ADMIN], ids=["payments", "admin"])
    def test_the_payment_provider_and_an_admin_record_payments(self, caller: Caller) -> None:
        assert caller.records_payments

    def test_a_customer_does_not_even_for_their_own_order(self) -> None:
        assert not OWNER.records_payments

    def test_only_the_admin_role_makes_an_admin(self) -> None:
        both = Caller("ops-1", frozenset({Role.PAYMENTS, Role.ADMIN}))

        assert [c.is_admin for c in (OWNER, PAYMENT_PROVIDER, ADMIN, both)] == [False, False, True, True]


class TestWhoseOrdersAListingShows:
    @pytest.mark.parametrize("caller", [OWNER, PAYMENT_PROVIDER], ids=["customer", "payments"])
    def test_anyone_but_an_admin_is_listed_their_own(self, caller: Caller) -> None:
        assert caller.listed_customer == caller.customer_id

    def test_an_admin_is_listed_everyone_s(self) -> None:
        assert ADMIN.listed_customer is None


class TestCaller:
    def test_a_caller_without_roles_is_a_plain_customer(self) -> None:
        caller = Caller("auth0|5f7c8ec7")

        assert caller.roles == frozenset()
        assert (caller.is_admin, caller.records_payments) == (False, False)

    @pytest.mark.parametrize("customer_id", ["", "a b", "é", "x" * 256, None, 7], ids=repr)
    def test_refuses_an_invalid_customer_id(self, customer_id: object) -> None:
        with pytest.raises(InvalidValue) as refused:
            Caller(customer_id)  # type: ignore[arg-type]

        assert refused.value.field == "customer_id"

    @pytest.mark.parametrize(
        "roles",
        [
            {Role.ADMIN},
            [Role.ADMIN],
            frozenset({"admin"}),
            frozenset({Role.ADMIN, "payments"}),
            "admin",
            None,
        ],
        # Not repr: a set's order, and so its repr, changes with the hash seed, which differs between the
        # processes of a parallel run (pytest-xdist), which must all collect the same test ids.
        ids=["a set", "a list", "strings", "a role and a string", "a string", "None"],
    )
    def test_refuses_roles_that_are_not_a_frozenset_of_role(self, roles: object) -> None:
        with pytest.raises(InvalidValue) as refused:
            Caller(CUSTOMER, roles)  # type: ignore[arg-type]

        assert refused.value.field == "roles"
