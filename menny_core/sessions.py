"""One trainer per process: a single training run at a time, cancellable by its owner only.

A shared demo has many visitors and one CPU, so `Trainer` lets a single run train at a time
and refuses a second one with a sentence a person can act on: how long the running one
has left, estimated from its own epochs so far. Where the weights of a finished run go,
and whose model they become, is `visitors.Visitors`' business; the trainer only owns the
CPU.

Typical use (`training_run.run_training` trains, saves and releases the run):

    run = trainer.start(owner="visitor-a", epochs=config.epochs)  # or TrainingRefused
    for event in run_training(folder, config, run, save=...):
        ...

Thread-safe: Gradio runs handlers in worker threads, so every state change holds a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from menny_base.errors import MennyError

WEIGHTS_NAME = "menny.safetensors"


class TrainingRefused(MennyError, RuntimeError):
    """A training request that cannot start or be cancelled now, with a sentence saying why."""


@dataclass
class Run:
    """One training run: who started it, its progress, its cancel flag and its time limit.

    started: the trainer's clock (seconds, monotonic) at the start. epochs: how many the run
    may take. max_seconds: the wall-clock budget after which `should_stop` says stop
    (None: no limit); `out_of_time` then tells why it stopped.
    """

    started: float
    epochs: int = 1
    owner: str | None = None  # who may cancel it (the app: the visitor); None: anyone
    max_seconds: float | None = None
    clock: Callable[[], float] = time.monotonic
    epochs_done: int = 0
    cancel_event: threading.Event = field(default_factory=threading.Event)
    on_release: Callable[[Run], None] | None = None  # the trainer's: frees its slot

    def release(self) -> None:
        """Free the trainer this run holds (whatever became of the run)."""
        if self.on_release is not None:
            self.on_release(self)

    def cancelled(self) -> bool:
        """True once its owner pressed Cancel (or the page went away)."""
        return self.cancel_event.is_set()

    def out_of_time(self) -> bool:
        """True once the run has used its wall-clock budget."""
        return self.max_seconds is not None and self.elapsed() >= self.max_seconds

    def should_stop(self) -> bool:
        """The trainer's `should_stop`: cancelled, or out of time."""
        return self.cancelled() or self.out_of_time()

    def epoch_done(self) -> None:
        self.epochs_done += 1

    def elapsed(self) -> float:
        return self.clock() - self.started

    def seconds_left(self) -> float | None:
        """Estimated from the epochs so far (None before the first epoch ends), capped by
        the time limit."""
        estimates = []
        if self.epochs_done:
            estimates.append(self.elapsed() / self.epochs_done * (self.epochs - self.epochs_done))
        if self.max_seconds is not None:
            estimates.append(self.max_seconds - self.elapsed())
        return max(0.0, min(estimates)) if estimates else None


class Trainer:
    """The one training slot of a process. clock: seconds, monotonic; injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._active: Run | None = None

    def start(
        self, owner: str | None = None, epochs: int = 1, max_seconds: float | None = None
    ) -> Run:
        """Claim the trainer for a run of at most `epochs` epochs and `max_seconds` seconds,
        or raise TrainingRefused saying how long the running one has left."""
        with self._lock:
            if self._active is not None:
                raise TrainingRefused(self._busy_sentence(self._active, owner))
            self._active = Run(
                self._clock(), epochs, owner, max_seconds, self._clock, on_release=self.release
            )
            return self._active

    def _busy_sentence(self, active: Run, owner: str | None) -> str:
        whose = "your own run" if owner is not None and owner == active.owner else "another run"
        left = active.seconds_left()
        if left is None:
            when = f"it started {active.elapsed():.0f} s ago"
        else:
            when = (
                f"about {max(1, round(left))} s left, epoch {active.epochs_done} of {active.epochs}"
            )
        return (
            f"the trainer is busy with {whose} ({when}); one run trains at a time: "
            "try again when it ends, or press Cancel if it is yours"
        )

    @contextmanager
    def begin(self, owner: str | None = None, epochs: int = 1) -> Iterator[Run]:
        """`start()` as a context manager: the trainer is freed however the block ends."""
        run = self.start(owner, epochs)
        try:
            yield run
        finally:
            self.release(run)

    def release(self, run: Run) -> None:
        """Free the trainer (whatever became of the run)."""
        with self._lock:
            if self._active is run:
                self._active = None

    def cancel(self, owner: str | None = None) -> bool:
        """Ask the running training to stop after its current batch; False if none runs.

        On a shared demo one visitor must not stop another's run: a run started with an
        owner is only cancelled by that owner (TrainingRefused for anyone else).
        """
        with self._lock:
            if self._active is None:
                return False
            if self._active.owner is not None and owner != self._active.owner:
                raise TrainingRefused(
                    "the training running now was started by another visitor; only they "
                    "can cancel it"
                )
            self._active.cancel_event.set()
            return True

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._active is not None
