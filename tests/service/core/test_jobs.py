"""The background-job interface: a failing tick is logged and the job carries on; stop ends
the thread and runs the final step once."""

from __future__ import annotations

import logging
import threading

from service._jobs import PeriodicJob


class _Flaky(PeriodicJob):
    name = "caselink-test-job"

    def __init__(self) -> None:
        self.ticks, self.finals, self.second = 0, 0, threading.Event()
        super().__init__()

    def wait_seconds(self) -> float:
        return 0.0

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks == 1:
            raise RuntimeError("the database is away")
        self.second.set()

    def final(self) -> None:
        self.finals += 1


def test_a_failing_tick_is_logged_and_the_next_one_runs(caplog):
    job = _Flaky()
    with caplog.at_level(logging.ERROR, logger="service._jobs"):
        job.start_thread()
        assert job.second.wait(60), "the job stopped after a failed tick"
        job.stop()
    assert not job._thread.is_alive() and job.finals == 1
    assert any("caselink-test-job failed" in r.getMessage() for r in caplog.records)
