"""In-process background jobs: named callables run when due, on one daemon thread.

The embedded default needs no job server; each job says when it is next due, so a fixed
interval and a cron-like schedule are the same thing to the scheduler.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_LOGGER = logging.getLogger(__name__)

NextDue = Callable[[float], float]  # epoch seconds now -> epoch seconds of the next run


@dataclass(frozen=True)
class Job:
    """A named task and its schedule."""

    name: str
    run: Callable[[], object]
    next_due: NextDue


def every(interval_s: float) -> NextDue:
    """A schedule that runs `interval_s` seconds after the previous run."""
    return lambda now: now + interval_s


class Scheduler:
    """Runs registered jobs when due; a failing job is logged and rescheduled."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._queue: list[tuple[float, int, Job]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._added = 0

    @property
    def jobs(self) -> list[str]:
        """Names of the registered jobs."""
        with self._cond:
            return sorted(job.name for _, _, job in self._queue)

    def add(self, job: Job) -> None:
        """Register a job; its first run is at its first due time from now."""
        with self._cond:
            self._added += 1
            heapq.heappush(self._queue, (job.next_due(self._clock()), self._added, job))
            self._cond.notify()

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name="forewarn-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the running job, if any, returns."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            try:
                job.run()
            except Exception:  # one broken job must not stop the others
                _LOGGER.exception("job %s failed", job.name)
            with self._cond:
                self._added += 1
                heapq.heappush(self._queue, (job.next_due(self._clock()), self._added, job))

    def _next_job(self) -> Job | None:
        with self._cond:
            while not self._stopping:
                if self._queue:
                    due = self._queue[0][0]
                    wait = due - self._clock()
                    if wait <= 0:
                        return heapq.heappop(self._queue)[2]
                    self._cond.wait(min(wait, 1.0))
                else:
                    self._cond.wait(1.0)
            return None
