"""How many dead letters wait to be replayed, counted on a thread of its own for the gauge.

Counting reads every dead-letter topic of the service and `dead-letter-replays` from Kafka (a `Broker.read`:
a consumer made, every partition read to its end), far too slow for a scrape and for the event loop. So a
thread counts: when it starts, every `interval_s` (30 s), and soon after `wake()` (a record was just
dead-lettered, or replayed), but never more often than every `min_gap_s`, however many wake it. A scrape
reads the last count (`waiting`); until the first count, or after one failed, the last good count stays
(None before any) and `last_error` says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

INTERVAL_S = 30.0


class DeadLetterWatch:
    def __init__(
        self,
        count: Callable[[], Mapping[str, int]],
        *,
        interval_s: float = INTERVAL_S,
        min_gap_s: float = 1.0,
    ) -> None:
        self._count = count
        self._interval_s = interval_s
        self._min_gap_s = min_gap_s
        self._woken = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dead-letter-watch", daemon=True)
        self.waiting: Mapping[str, int] | None = None  # replaced whole, never changed: other threads read it
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        self._woken.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def wake(self) -> None:
        """Count again soon (any thread)."""
        self._woken.set()

    def refresh(self) -> None:
        """Count now, on the caller's thread (the watch's own, or a test's)."""
        try:
            self.waiting = dict(self._count())
            self.last_error = None
        except Exception as error:  # noqa: BLE001 - Kafka away, a read too long: the gauge keeps its last count
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning("counting the dead letters waiting failed: %s", self.last_error)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._woken.clear()
            started = time.monotonic()
            self.refresh()
            self._woken.wait(self._interval_s)
            # Woken early: wait out the rest of the gap, so a burst of dead letters costs one count.
            self._stopping.wait(max(0.0, self._min_gap_s - (time.monotonic() - started)))
