"""W3C Trace Context: the trace id of a flow comes from its correlation id, the parent id from the message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import tracecontext
from adapters.tracecontext import TraceParent, parent_id_for, trace_id_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True)


class TestTraceIds:
    def test_a_correlation_id_that_is_a_trace_id_is_its_own_trace_id(self):
        assert trace_id_for(TRACE_ID) == TRACE_ID

    @given(ids)
    def test_any_other_correlation_id_gives_a_valid_trace_id_every_service_derives_alike(
        self, correlation_id
    ):
        trace_id = trace_id_for(correlation_id)

        assert len(trace_id) == 32 and set(trace_id) <= set("0123456789abcdef")
        assert trace_id != "0" * 32
        assert trace_id == trace_id_for(correlation_id)

    def test_upper_case_hex_is_not_a_trace_id_and_is_hashed(self):
        assert trace_id_for(TRACE_ID.upper()) != TRACE_ID.upper()

    def test_different_flows_get_different_trace_ids(self):
        assert trace_id_for("checkout-1") != trace_id_for("checkout-2")

    @given(ids)
    def test_a_parent_id_is_16_hex_digits_never_all_zero(self, message_id):
        parent_id = parent_id_for(message_id)

        assert len(parent_id) == 16 and set(parent_id) <= set("0123456789abcdef") and parent_id != "0" * 16


class TestReadingATraceparent:
    @given(ids, ids)
    def test_what_is_written_reads_back(self, correlation_id, message_id):
        written = tracecontext.for_message(correlation_id, message_id)

        assert tracecontext.parse(written.header_value()) == written

    def test_reads_the_spec_s_example(self):
        parsed = tracecontext.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")

        assert parsed == TraceParent(TRACE_ID, "00f067aa0ba902b7", "01")

    def test_a_later_version_is_read_by_its_first_four_fields(self):
        parsed = tracecontext.parse(f"01-{TRACE_ID}-00f067aa0ba902b7-00-something-new")

        assert parsed == TraceParent(TRACE_ID, "00f067aa0ba902b7", "00")

    @pytest.mark.parametrize(
        "value",
        [
            None,
            "",
            "garbage",
            f"00-{'0' * 32}-00f067aa0ba902b7-01",
            f"00-{TRACE_ID}-{'0' * 16}-01",
            f"ff-{TRACE_ID}-00f067aa0ba902b7-01",
            f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01",
            f"00-{TRACE_ID}-00f067aa0ba902b7-01-extra",
            f"00-{TRACE_ID}-00f067aa0ba902b7",
            b"\xff\xfe",
        ],
        ids=[
            "missing",
            "empty",
            "garbage",
            "zero trace id",
            "zero parent id",
            "version ff",
            "upper case",
            "version 00 with more fields",
            "no flags",
            "not ASCII",
        ],
    )
    def test_an_invalid_value_is_ignored_not_refused(self, value):
        assert tracecontext.parse(value) is None
