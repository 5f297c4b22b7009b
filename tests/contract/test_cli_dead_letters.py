"""`ordering dlq list | show | replay`, against the three apps over in-memory adapters (as test_cli_commands).

The dead letters are put on the in-memory broker the apps' dead-letter desks read (`http_services`), each
service answering for the topics it consumes; the CLI is run as an admin unless a test says otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from http_services import Services, dead_letter, pen_and_ink
from test_cli_commands import ADMIN, CUSTOMER_A, Connections, Ran

import identities
from adapters.messaging.dead_letter_headers import REPLAYED_FROM_HEADER
from entrypoints.cli import main
from entrypoints.cli.tokens import NEEDS_ADMIN, NEEDS_AN_ADMIN_TOKEN


@pytest.fixture
def shop() -> Services:
    return pen_and_ink()


@pytest.fixture
def connections(shop: Services) -> Connections:
    return Connections(shop)


@pytest.fixture
def ordering(
    connections: Connections, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Ran]:
    """Run `ordering *argv` as an admin (ORDERING_TOKEN): its exit code and what it printed."""
    monkeypatch.setenv("ORDERING_TOKEN", ADMIN)

    def run(*argv: str) -> Ran:
        code = main(list(argv), connect=connections)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return Ran(code, out, err)

    return run


def replayed_records(shop: Services, topic: str) -> list[dict[str, bytes]]:
    return [dict(r.headers) for r in shop.broker.records(topic) if REPLAYED_FROM_HEADER in dict(r.headers)]


class TestList:
    def test_lists_the_dead_letters_of_every_service_in_one_table(self, ordering, shop):
        stock = dead_letter(shop, "update-stock")
        status = dead_letter(shop, "order-status", value=b"\xff")

        ran = ordering("dlq", "list")

        assert ran.code == 0
        lines = ran.out.splitlines()
        assert lines[0].split() == ["REF", "TOPIC", "REASON", "WHEN", "ORDER", "REPLAYED"]
        assert [line.split()[:2] for line in lines[1:]] == [[stock, "update-stock"], [status, "order-status"]]
        assert all(line.split()[-2:] == ["o-1", "no"] for line in lines[1:])

    def test_a_topic_is_asked_of_the_service_that_consumes_it_only(self, ordering, shop, connections):
        dead_letter(shop, "update-stock")

        ran = ordering("--json", "dlq", "list", "--topic", "update-stock.dlq")

        assert [dead["topic"] for dead in ran.json["dead_letters"]] == ["update-stock"]
        assert connections.asked == ["Product Service"]

    def test_says_so_when_there_are_none(self, ordering):
        assert ordering("dlq", "list").out == "No dead letters: every record the services read was applied.\n"

    def test_a_topic_no_service_consumes_is_a_usage_error(self, ordering, connections):
        ran = ordering("dlq", "list", "--topic", "create-order")

        assert ran.code == 2
        assert "is not a topic any service consumes" in ran.err
        assert connections.asked == []


class TestShow:
    def test_shows_the_whole_record_from_the_service_that_owns_it(self, ordering, shop, connections):
        ref = dead_letter(shop, "update-stock", value=b'{"broken": true}')

        ran = ordering("dlq", "show", ref)

        assert ran.code == 0
        assert ran.out.splitlines()[:3] == [
            f"Dead letter {ref}: read from update-stock (partition 0, offset 7)",
            "Reason: the value is not JSON",
            "Set aside: 2026-03-01 12:00:00+00:00",
        ]
        assert '  "broken": true' in ran.out
        assert connections.asked == ["Product Service"]

    def test_a_malformed_reference_is_a_usage_error_that_says_what_one_looks_like(self, ordering, connections):
        ran = ordering("dlq", "show", "update-stock:0:1")

        assert ran.code == 2
        assert "<topic>.dlq:<partition>:<offset>" in ran.err
        assert connections.asked == []

    def test_a_reference_to_nothing_is_refused_by_the_service(self, ordering):
        ran = ordering("dlq", "show", "order-status.dlq:2:99")

        assert ran.code == 1
        assert "no dead letter at order-status.dlq:2:99" in ran.err


class TestReplay:
    def test_replays_the_named_dead_letters_each_by_its_owner(self, ordering, shop):
        stock, status = dead_letter(shop, "update-stock"), dead_letter(shop, "order-status")

        ran = ordering("dlq", "replay", stock, status)

        assert ran.code == 0
        assert ran.out.splitlines()[0] == "Sent back to their topics (2); a record already applied changes nothing:"
        assert [h[REPLAYED_FROM_HEADER] for h in replayed_records(shop, "update-stock")] == [stock.encode()]
        assert [h[REPLAYED_FROM_HEADER] for h in replayed_records(shop, "order-status")] == [status.encode()]

    def test_by_topic_replays_only_those_not_replayed_yet(self, ordering, shop):
        first = dead_letter(shop, "update-stock")
        ordering("dlq", "replay", first)
        second = dead_letter(shop, "update-stock")

        ran = ordering("--json", "dlq", "replay", "--topic", "update-stock")

        assert [dead["ref"] for dead in ran.json["replayed"]] == [second]
        assert ran.json["replayed"][0]["replayed"]["by"] == identities.ADMIN
        assert ordering("dlq", "replay", "--topic", "update-stock").out.startswith("Nothing to replay")

    @pytest.mark.parametrize("argv", [[], ["--topic", "update-stock", "update-stock.dlq:0:0"]])
    def test_needs_either_references_or_a_topic(self, ordering, connections, argv):
        ran = ordering("dlq", "replay", *argv)

        assert ran.code == 2
        assert connections.asked == []


class TestWhoMay:
    def test_a_customer_hears_it_needs_an_admin_s_token(self, ordering):
        ran = ordering("--token", CUSTOMER_A, "dlq", "list")

        assert ran.code == 1
        assert ran.err.splitlines() == ["ordering: error: this operation needs the role admin", f"  {NEEDS_ADMIN}"]

    def test_without_a_token_it_says_how_to_get_an_admin_s(self, shop, capsys):
        code = main(["--json", "dlq", "list"], connect=Connections(shop))

        out, err = capsys.readouterr()
        assert code == 1
        assert json.loads(out)["type"] == "/problems/unauthenticated"
        assert err.splitlines()[-1] == f"  {NEEDS_AN_ADMIN_TOKEN}"
