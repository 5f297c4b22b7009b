"""The chaos run's schedule: one seed, one schedule; every kind once before any repeats; faults that never
overlap and stay inside the load, after its warm-up and before its cool-down."""

from __future__ import annotations

import pytest

from chaos.plan import Kind, PlanError, parse_kinds, plan

WINDOW = {"duration_s": 240.0, "warmup_s": 15.0, "cooldown_s": 25.0, "pause_s": 10.0}


def schedule(seed: int = 3, faults: int = 9, kinds: tuple[Kind, ...] = tuple(Kind)):
    return plan(seed, faults=faults, kinds=kinds, **WINDOW)


class TestTheSchedule:
    def test_the_same_seed_gives_the_same_schedule_and_another_seed_another(self):
        assert schedule(seed=3) == schedule(seed=3)
        assert schedule(seed=3) != schedule(seed=4)

    def test_every_kind_comes_once_before_any_kind_comes_twice(self):
        kinds = [fault.kind for fault in schedule(faults=9)]

        assert set(kinds[: len(Kind)]) == set(Kind)
        assert len(kinds) == 9

    def test_faults_start_in_order_inside_the_window_and_each_has_half_a_slot_to_recover(self):
        faults = schedule(faults=9)
        slot_s = (240.0 - 15.0 - 25.0) / 9

        starts = [fault.at_s for fault in faults]
        assert starts == sorted(starts)
        assert all(15.0 <= start <= 240.0 - 25.0 for start in starts)
        assert all(start <= 15.0 + n * slot_s + slot_s / 2 + 0.01 for n, start in enumerate(starts))

    def test_the_paused_service_stays_stopped_as_long_as_asked_and_only_a_slowed_link_has_latency(self):
        faults = schedule(faults=len(Kind))

        pause = next(f for f in faults if f.kind is Kind.PAUSE_ORDER)
        assert pause.hold_s == 10.0
        assert all((f.latency_s > 0) == (f.kind is Kind.SLOW_PRODUCT) for f in faults)

    def test_only_the_kinds_asked_for_are_drawn(self):
        faults = schedule(faults=6, kinds=(Kind.KILL_ORDER, Kind.KILL_PRODUCT))

        assert {fault.kind for fault in faults} == {Kind.KILL_ORDER, Kind.KILL_PRODUCT}

    def test_no_faults_is_a_schedule_of_none(self):
        assert schedule(faults=0) == ()

    def test_a_run_too_short_for_its_warm_up_and_cool_down_has_no_room_for_faults(self):
        with pytest.raises(PlanError, match="no time"):
            plan(1, duration_s=30, faults=2, kinds=tuple(Kind), warmup_s=15, cooldown_s=25, pause_s=10)


class TestKindsFromTheCommandLine:
    def test_names_separated_by_commas(self):
        assert parse_kinds("kill_order, slow_product") == (Kind.KILL_ORDER, Kind.SLOW_PRODUCT)

    def test_all_is_every_kind(self):
        assert parse_kinds("all") == tuple(Kind)

    def test_an_unknown_name_is_refused_naming_the_known_ones(self):
        with pytest.raises(PlanError, match="kill_order"):
            parse_kinds("kill_everything")
