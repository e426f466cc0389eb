"""Training runs of one app process: one at a time, cancellable, kept apart from shipped weights.

A shared demo has many visitors and one CPU, so `TrainingRuns` lets a single training run
at a time and refuses a second one with a sentence a person can act on. Each run gets its
own folder `runs/<timestamp>/` holding `menny.safetensors`; the shipped `weights/` folder
is never written to. The last run that finished becomes the "current model" the Classify
tab uses in this process (the shipped weights until then).

Typical use (the trainer is `menny_core.train.train`, which polls `should_stop`):

    runs = TrainingRuns("runs", shipped_weights="weights/menny.safetensors")
    with runs.begin() as run:                     # TrainingRefused if one is running
        result = train(folder, config, should_stop=run.cancelled)
        save(run.weights_path, result.model, result.metadata())  # finish(): current
        runs.finish(run)

Thread-safe: Gradio runs handlers in worker threads, so every state change holds a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

WEIGHTS_NAME = "menny.safetensors"


class TrainingRefused(RuntimeError):
    """A training request that cannot start now (another run is in progress)."""


@dataclass
class Run:
    """One training run: its folder, where its weights go, and its cancel flag."""

    folder: Path
    started: float  # the manager's clock (seconds, monotonic) when the run began
    owner: str | None = None  # who started it (the app: the browser session); None: anyone
    cancel_event: threading.Event = field(default_factory=threading.Event)

    @property
    def weights_path(self) -> Path:
        return self.folder / WEIGHTS_NAME

    def cancelled(self) -> bool:
        """True once someone pressed Cancel; pass it as the trainer's `should_stop`."""
        return self.cancel_event.is_set()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class TrainingRuns:
    """The training runs of one process and the model the Classify tab should use.

    runs_dir: where run folders are made (created on first run); must not be inside the
    shipped weights' folder. shipped_weights: the weights file to use until a run
    finishes (None if there is none). clock: seconds, monotonic; injectable for tests.
    """

    def __init__(
        self,
        runs_dir: str | Path = "runs",
        shipped_weights: str | Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runs_dir = Path(runs_dir).resolve()
        self.shipped_weights = None if shipped_weights is None else Path(shipped_weights).resolve()
        if self.shipped_weights is not None and _inside(self.runs_dir, self.shipped_weights.parent):
            raise ValueError(
                f"the runs folder ({self.runs_dir}) must not be inside the shipped weights' "
                f"folder ({self.shipped_weights.parent}): runs would overwrite them"
            )
        self._clock = clock
        self._lock = threading.Lock()
        self._active: Run | None = None
        self._trained: Path | None = None

    # -- one run at a time ---------------------------------------------------

    def start(self, owner: str | None = None) -> Run:
        """Claim the trainer and make the run's folder, or raise TrainingRefused.
        owner: who may cancel the run (None: anyone), e.g. the app's browser session."""
        with self._lock:
            if self._active is not None:
                waited = self._clock() - self._active.started
                raise TrainingRefused(
                    f"a training run is already in progress (started {waited:.0f} s ago); "
                    f"wait for it or press Cancel"
                )
            folder = self._new_folder()
            self._active = Run(folder, self._clock(), owner)
            return self._active

    def _new_folder(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = self.runs_dir / stamp
        suffix = 1
        while folder.exists():  # two runs in the same second
            suffix += 1
            folder = self.runs_dir / f"{stamp}-{suffix}"
        folder.mkdir(parents=True)
        return folder

    def finish(self, run: Run) -> None:
        """Make the run's saved weights the current model (if it saved any), free the trainer."""
        with self._lock:
            if run.weights_path.is_file():
                self._trained = run.weights_path
            if self._active is run:
                self._active = None

    def release(self, run: Run) -> None:
        """Free the trainer without changing the current model (a failed or cancelled run)."""
        with self._lock:
            if self._active is run:
                self._active = None

    @contextmanager
    def begin(self) -> Iterator[Run]:
        """`start()` as a context manager: the trainer is freed however the block ends."""
        run = self.start()
        try:
            yield run
        finally:
            self.release(run)

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

    # -- the current model ---------------------------------------------------

    @property
    def current_weights(self) -> Path | None:
        """The weights the Classify tab should use: the last finished run, else the shipped ones."""
        with self._lock:
            return self._trained or self.shipped_weights

    def describe_current(self) -> str:
        """One line for the UI saying which model answers."""
        with self._lock:
            if self._trained is not None:
                return f"the model trained in this session ({self._trained})"
            if self.shipped_weights is not None:
                return f"the shipped model ({self.shipped_weights.name})"
            return "no model yet: train one in the Train tab"
