"""The publish loop: send a fleet's messages at their due times over a transport, then flush."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from forewarn.errors import InvalidInputError
from forewarn.sim.fleet import FaultLog, FaultRecord, Message, SimPlan, messages
from forewarn.sim.transports import Transport

_LOGGER = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.25
FLUSH_TIMEOUT_S = 30.0


@dataclass
class PublishStats:
    """Counters of a run, as the progress callback and the caller see them."""

    messages: int = 0
    readings: int = 0
    acked: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    faults: list[FaultRecord] = field(default_factory=list)

    @property
    def readings_per_s(self) -> float:
        """Readings sent per second of the run so far."""
        return self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class Clock:
    """Monotonic time and sleep (by default the transport's, which keeps its connection
    alive); tests pass a fake that advances on sleep."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class _Run:
    """One publish run: its counters, fault log and progress reporting."""

    def __init__(
        self, transport: Transport, clock: Clock, on_progress: Callable[[PublishStats], None] | None
    ) -> None:
        self.transport, self.clock, self.on_progress = transport, clock, on_progress
        self.faults, self.stats = FaultLog(), PublishStats()
        self.t0 = self.last_report = clock.now()

    def done(self, message: Message, duration_s: float | None, count: int | None) -> bool:
        """Whether the run ends before `message`."""
        if count is not None and self.stats.messages >= count:
            return True
        elapsed = self.clock.now() - self.t0
        return duration_s is not None and (message.due_s >= duration_s or elapsed >= duration_s)

    def wait(self, message: Message) -> None:
        """Sleep until the message is due."""
        delay = self.t0 + message.due_s - self.clock.now()
        if delay > 0:
            self.clock.sleep(delay)

    def count(self, message: Message) -> None:
        """Count a sent message; report progress now and then."""
        self.faults.sent(message.device, message.ts[-1])
        self.stats.messages += 1
        self.stats.readings += message.readings
        now = self.clock.now()
        if self.on_progress is not None and now - self.last_report >= PROGRESS_EVERY_S:
            self.last_report = now
            self.on_progress(self.snapshot())

    def snapshot(self) -> PublishStats:
        """The counters with the transport's acknowledgements and the elapsed time."""
        stats = self.stats
        stats.acked, stats.errors = self.transport.acked, self.transport.errors
        stats.elapsed_s = self.clock.now() - self.t0
        return stats


def publish(
    plan: SimPlan,
    device_ids: Sequence[uuid.UUID],
    transport: Transport,
    *,
    duration_s: float | None = None,
    count: int | None = None,
    start_ms: int | None = None,
    clock: Clock | None = None,
    on_progress: Callable[[PublishStats], None] | None = None,
    on_sent: Callable[[Message, float], None] | None = None,
) -> PublishStats:
    """Send messages at their due times until `duration_s` or `count` messages, then flush.

    Ctrl-C ends the run early the same way. `on_sent(message, wall_time)` hears of each
    message with the wall-clock time just before it was handed to the transport.
    """
    if len(device_ids) != plan.devices:
        raise InvalidInputError(("device_ids",), f"need {plan.devices}, got {len(device_ids)}")
    if duration_s is None and count is None:
        raise InvalidInputError(("duration_s",), "give a duration or a count")
    run = _Run(transport, clock or Clock(sleep=transport.idle), on_progress)
    start_ms = int(time.time() * 1000) if start_ms is None else start_ms
    try:
        for message in messages(plan, start_ms, run.faults):
            if run.done(message, duration_s, count):
                break
            run.wait(message)
            sent_at = time.time()
            transport.send(device_ids[message.device], message.payload)
            if on_sent is not None:
                on_sent(message, sent_at)
            run.count(message)
    except KeyboardInterrupt:
        _LOGGER.info("interrupted after %s messages; flushing", run.stats.messages)
    transport.close(timeout_s=FLUSH_TIMEOUT_S)
    stats = run.snapshot()
    stats.faults = run.faults.published()
    return stats
