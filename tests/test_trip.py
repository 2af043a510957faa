"""safety.trip: every safe-state action runs in its own try; idempotent; failures retried."""
from __future__ import annotations

import logging

from safety.trip import Trip


class Recorder:
    def __init__(self, fail_times: int = 0):
        self.calls = 0
        self.fail_times = fail_times

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise OSError("link down")


def test_every_action_runs_even_when_one_before_fails():
    belt, winch, beacon = Recorder(fail_times=1), Recorder(), Recorder()
    trip = Trip([("belt", belt), ("winch", winch), ("beacon", beacon)])
    failures = trip.trip("fall")
    assert failures == {"belt": "OSError: link down"}
    assert (belt.calls, winch.calls, beacon.calls) == (1, 1, 1)
    assert trip.tripped and trip.reasons == ["fall"]


def test_second_trip_repeats_only_what_failed():
    belt, winch = Recorder(fail_times=1), Recorder()
    trip = Trip([("belt", belt), ("winch", winch)])
    trip.trip("fall")
    assert trip.trip("fall") == {}
    assert (belt.calls, winch.calls) == (2, 1)
    assert trip.reasons == ["fall"]  # the same reason is noted once
    trip.trip("e-stop")
    assert (belt.calls, winch.calls) == (2, 1) and trip.reasons == ["fall", "e-stop"]


def test_reset_arms_it_again():
    belt = Recorder()
    trip = Trip([("belt", belt)])
    trip.trip("fault")
    trip.reset()
    assert not trip.tripped
    trip.trip("fault")
    assert belt.calls == 2


def test_a_non_os_error_is_caught_too():
    def broken() -> None:
        raise ZeroDivisionError("bug")
    later = Recorder()
    trip = Trip([("broken", broken), ("later", later)])
    assert trip.trip("x") == {"broken": "ZeroDivisionError: bug"}
    assert later.calls == 1


def test_a_routine_trip_is_information_and_its_failures_are_errors(caplog):
    caplog.set_level(logging.INFO, logger="safety.trip")
    Trip([("belt", Recorder(fail_times=1))]).trip("the rig is shutting down", routine=True)
    levels = {record.getMessage(): record.levelno for record in caplog.records}
    assert levels == {"trip: the rig is shutting down": logging.INFO, "trip: belt failed: link down": logging.ERROR}
    caplog.clear()
    Trip([("belt", Recorder())]).trip("fall")
    assert [(r.getMessage(), r.levelno) for r in caplog.records] == [("trip: fall", logging.ERROR)]
