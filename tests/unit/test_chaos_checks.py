"""The chaos run's verdicts, judged from plain records: what the clients heard against the final state.

Nothing here starts a service: each test writes down what a client did and heard (a `Placement`) and what the
services hold at the end, and reads the verdict.
"""

from __future__ import annotations

from chaos.checks import check_dead_letters, check_messages, check_orders, check_stock
from chaos.ledger import Answer, FaultOutcome, Placement, expected_states
from chaos.summary import check_server_errors, http_figures, recovery

ITEMS = (("P1", 2),)


def placed(order_id: str, *, key: str = "", customer: str = "c1", action: str | None = None,
           action_answer: Answer | None = None, at: float = 1.0) -> Placement:
    placement = Placement(customer, key or f"key-{order_id}", ITEMS, [Answer(at, 201, order_id=order_id)])
    placement.action = action
    placement.action_answers = [action_answer] if action_answer else []
    return placement


def lost(key: str, customer: str = "c1") -> Placement:
    """A key whose every try went unanswered: the order may exist or not."""
    return Placement(customer, key, ITEMS, [Answer(1.0, None), Answer(2.0, 503, retry_after=True)])


def order(order_id: str, status: str = "unpaid", reason: str | None = None, items=ITEMS) -> dict:
    body = {"order_id": order_id, "status": status, "items": [
        {"product_id": p, "quantity": q, "unit_price": "1.00"} for p, q in items]}
    return {**body, "reason": reason} if reason else body


def told(*statuses: str) -> list[dict]:
    return [{"status": s.split(":")[0], "reason": s.split(":")[1] if ":" in s else None} for s in statuses]


class TestWhatAnAnswerSettles:
    def test_a_key_still_in_flight_is_asked_again_while_unavailable_items_settle_it(self):
        in_flight = Answer(1.0, 409, problem="/problems/idempotency-key-in-flight")
        unavailable = Answer(1.0, 409, problem="/problems/items-unavailable")

        assert not in_flight.final
        assert unavailable.final
        assert not Answer(1.0, 503, retry_after=True).final
        assert not Answer(1.0, None).final


class TestTheStateAClientExpects:
    def test_an_order_left_alone_is_unpaid_unless_its_stock_ran_out(self):
        assert expected_states(placed("o1")) == {"unpaid", "cancelled:out_of_stock"}

    def test_a_payment_answered_200_means_paid_or_cancelled_for_stock(self):
        paid = placed("o1", action="pay", action_answer=Answer(2.0, 200, order_status="paid"))

        assert expected_states(paid) == {"paid", "cancelled:out_of_stock"}

    def test_a_cancellation_whose_answer_was_lost_may_or_may_not_have_happened(self):
        unsure = placed("o1", action="cancel")
        unsure.action_answers = [Answer(2.0, None)]

        assert expected_states(unsure) == {"unpaid", "cancelled:customer", "cancelled:out_of_stock"}

    def test_a_refused_cancellation_of_an_order_never_paid_allows_no_state(self):
        refused = placed("o1", action="cancel", action_answer=Answer(2.0, 409))

        assert expected_states(refused) == frozenset()


class TestOrders:
    def test_every_201_order_present_in_a_state_its_client_allows_passes(self):
        placements = [placed("o1"), placed("o2", action="pay", action_answer=Answer(2, 200, order_status="paid"))]

        verdict = check_orders(placements, [order("o1"), order("o2", "paid")], {})

        assert verdict.ok
        assert (verdict.lost, verdict.duplicated) == (0, 0)

    def test_an_order_a_201_named_that_the_service_lacks_is_a_lost_effect(self):
        verdict = check_orders([placed("o1"), placed("o2")], [order("o1")], {})

        assert not verdict.ok
        assert verdict.lost == 1
        assert verdict.figures["missing"] == ["o2"]

    def test_two_orders_for_one_idempotency_key_are_a_duplicated_effect(self):
        twice = placed("o1", key="k")
        twice.answers.append(Answer(3.0, 201, order_id="o2"))

        verdict = check_orders([twice], [order("o1"), order("o2")], {})

        assert not verdict.ok
        assert verdict.figures["keys_with_two_orders"] == ["k"]

    def test_an_order_whose_answer_was_lost_to_a_fault_is_counted_not_blamed(self):
        verdict = check_orders([placed("o1"), lost("k2")], [order("o1"), order("o9")], {"c1": {"o1", "o9"}})

        assert verdict.ok
        assert verdict.figures["answer_lost_but_placed"] == 1

    def test_an_order_no_client_tried_to_place_is_a_duplicated_effect(self):
        verdict = check_orders([placed("o1")], [order("o1"), order("o9")], {})

        assert not verdict.ok
        assert verdict.figures["orders_nobody_placed"] == ["o9"]

    def test_an_order_in_a_state_its_client_s_acts_forbid_fails(self):
        cancelled = placed("o1", action="cancel", action_answer=Answer(2, 200, order_status="cancelled",
                                                                           reason="customer"))

        verdict = check_orders([cancelled], [order("o1", "paid")], {})

        assert not verdict.ok
        assert verdict.figures["inconsistent_states"][0]["state"] == "paid"


class TestStock:
    def test_what_left_the_shelf_is_exactly_what_unpaid_and_paid_orders_hold(self):
        orders = [order("o1"), order("o2", "paid"), order("o3", "cancelled", "customer")]

        verdict = check_stock({"P1": 10}, {"P1": 6}, orders, [])

        assert verdict.ok
        assert verdict.figures["oversold_units"] == 0

    def test_stock_taken_twice_is_a_duplicated_effect_and_stock_given_back_twice_a_lost_one(self):
        taken_twice = check_stock({"P1": 10}, {"P1": 6}, [order("o1")], [])
        given_back = check_stock({"P1": 10}, {"P1": 10}, [order("o1")], [])

        assert (taken_twice.ok, taken_twice.duplicated) == (False, 2)
        assert (given_back.ok, given_back.lost) == (False, 2)

    def test_a_negative_stock_seen_during_the_run_is_oversold_even_if_the_end_balances(self):
        verdict = check_stock({"P1": 10}, {"P1": 8}, [order("o1")], [("P1", -3)])

        assert not verdict.ok
        assert verdict.figures["oversold_units"] == 3


class TestMessages:
    def test_each_status_once_in_the_order_it_happened_passes(self):
        orders = [order("o1"), order("o2", "paid"), order("o3", "cancelled", "out_of_stock")]
        messages = {"o1": told("unpaid"), "o2": told("unpaid", "paid"),
                    "o3": told("unpaid", "paid", "cancelled:out_of_stock")}

        assert check_messages(orders, messages).ok

    def test_a_status_told_twice_is_a_duplicate_and_one_never_told_is_lost(self):
        verdict = check_messages([order("o1", "paid"), order("o2", "paid")],
                                 {"o1": told("unpaid", "paid", "paid"), "o2": told("unpaid")})

        assert not verdict.ok
        assert (verdict.lost, verdict.duplicated) == (1, 1)

    def test_statuses_told_out_of_order_fail(self):
        verdict = check_messages([order("o1", "paid")], {"o1": told("paid", "unpaid")})

        assert not verdict.ok


class TestDeadLetters:
    def test_on_a_shared_cluster_only_the_run_s_own_orders_count(self):
        records = [("update-stock.dlq", "someone-else", "UnknownOrder"), ("order-status.dlq", "o1", "bad")]

        shared = check_dead_letters(records[:1], {"o1"}, whole_cluster=False)
        ours = check_dead_letters(records, {"o1"}, whole_cluster=False)

        assert shared.ok
        assert not ours.ok
        assert ours.figures["by_topic"] == {"order-status.dlq": 1}


class TestHttpFigures:
    def test_a_503_with_retry_after_during_an_outage_is_expected_and_a_500_is_a_defect(self):
        outage = FaultOutcome(1, "kill_product", injected_at=10.0, restored_at=12.0, ready_at=13.0)
        placement = Placement("c1", "k", ITEMS, [
            Answer(11.0, 503, retry_after=True), Answer(40.0, 503, retry_after=True), Answer(41.0, 500),
        ])

        figures = http_figures([placement], [outage])

        assert figures["5xx"] == {"total": 3, "503_with_retry_after_during_outage": 1, "503_other": 1,
                                  "500": 1, "other": 0}
        assert not check_server_errors(figures).ok


class TestRecovery:
    def test_recovery_lasts_from_the_repair_until_ready_and_an_order_accepted_again(self):
        outcome = FaultOutcome(1, "kill_order", injected_at=10.0, restored_at=12.0, ready_at=13.0)

        figures = recovery([placed("o1", at=11.0), placed("o2", at=14.5)], [outcome])

        assert figures == {"kill_order": {"each_s": [2.5], "max_s": 2.5}}

    def test_a_fault_after_which_no_order_was_accepted_never_recovered(self):
        outcome = FaultOutcome(1, "kill_broker", injected_at=10.0, restored_at=12.0, ready_at=13.0)

        assert recovery([placed("o1", at=11.0)], [outcome])["kill_broker"]["max_s"] is None
