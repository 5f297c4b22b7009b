"""The dead-letter operations over HTTP (entrypoints/dead_letters.py), on the three apps over in-memory adapters.

Who may call them is walked with every other operation in test_http_access.py, and each declared response
is produced in test_openapi_examples.py; here, what an admin gets. Every response is checked against
openapi.yaml by the contract client.
"""

from __future__ import annotations

import base64

import pytest
from http_services import Services, dead_letter, pen_and_ink, problem_type

import identities
from adapters.messaging.dead_letter_headers import REPLAYED_FROM_HEADER


@pytest.fixture
def shop() -> Services:
    return pen_and_ink()


class TestListing:
    def test_each_service_lists_the_dead_letters_of_what_it_consumes_and_no_others(self, shop):
        stock = dead_letter(shop, "update-stock")
        dead_letter(shop, "order-status")

        listed = shop.product.get("/dead-letters").json()["dead_letters"]

        assert [(d["ref"], d["topic"], d["reason"]) for d in listed] == [
            (stock, "update-stock", "the value is not JSON")
        ]
        assert listed[0]["dead_lettered_at"] == "2026-03-01T12:00:00+00:00"

    def test_a_topic_the_service_does_not_consume_is_404(self, shop):
        answer = shop.product.get("/dead-letters", params={"topic": "order-status"})

        assert (answer.status_code, problem_type(answer)) == (404, "/problems/unknown-dead-letter")


class TestShowing:
    @pytest.mark.parametrize(
        ("value", "shown"),
        [
            (b'{"n": 1}', {"json": {"n": 1}}),
            (b"plain words", {"text": "plain words"}),
            (b"NaN", {"text": "NaN"}),
            (b"\xff\x00", {"base64": base64.b64encode(b"\xff\x00").decode()}),
        ],
    )
    def test_the_value_is_shown_as_json_when_it_parses_else_as_text_else_as_base64(self, shop, value, shown):
        ref = dead_letter(shop, "update-stock", value=value)

        answer = shop.product.get(f"/dead-letters/{ref}").json()

        assert answer["value"] == shown
        assert answer["key"] == {"text": "o-1"}
        assert {"name": "dlq-topic", "text": "update-stock"} in answer["headers"]

    def test_a_malformed_reference_is_422_naming_it(self, shop):
        answer = shop.product.get("/dead-letters/update-stock:0:1")

        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == ["ref"]


class TestReplaying:
    def test_sends_the_record_back_and_answers_what_was_sent_marked_by_the_admin(self, shop):
        ref = dead_letter(shop, "update-stock")

        answer = shop.product.post("/dead-letters/replay", json={"refs": [ref]})

        (sent,) = answer.json()["replayed"]
        assert (sent["ref"], sent["replayed"]["by"]) == (ref, identities.ADMIN)
        (record,) = shop.broker.records("update-stock")
        assert dict(record.headers)[REPLAYED_FROM_HEADER] == ref.encode()
        assert shop.product.get("/dead-letters").json()["dead_letters"][0]["replayed"] == sent["replayed"]

    @pytest.mark.parametrize(
        "body",
        [{}, {"refs": ["update-stock.dlq:0:0"], "topic": "update-stock"}, {"refs": []}, {"refs": "x"}, {"topic": 3}],
    )
    def test_a_body_without_exactly_one_of_refs_and_topic_is_422(self, shop, body):
        dead_letter(shop, "update-stock")

        answer = shop.product.post("/dead-letters/replay", json=body)

        assert (answer.status_code, problem_type(answer)) == (422, "/problems/invalid-request")
        assert shop.broker.records("update-stock") == ()

    def test_each_malformed_reference_is_named_by_its_place(self, shop):
        good = dead_letter(shop, "update-stock")

        answer = shop.product.post("/dead-letters/replay", json={"refs": [good, "nope", "x.dlq:1"]})

        assert [e["field"] for e in answer.json()["errors"]] == ["refs[1]", "refs[2]"]
        assert shop.broker.records("update-stock") == ()

    def test_a_reference_of_another_service_s_topic_is_404_and_nothing_is_sent(self, shop):
        mine = dead_letter(shop, "update-stock")
        theirs = dead_letter(shop, "order-status")

        answer = shop.product.post("/dead-letters/replay", json={"refs": [mine, theirs]})

        assert (answer.status_code, problem_type(answer)) == (404, "/problems/unknown-dead-letter")
        assert shop.broker.records("update-stock") == ()
