"""A training run from start to saved weights, reported as it goes: what the app and the
CLI drive and display.

A web handler must keep answering (progress bar, live curves) while MLX trains, and a
Gradio handler streams by yielding. So the trainer runs in a thread of its own and
reports through a queue; `train_in_background` relays those reports, in order, to
whichever thread iterates it:

    for event in train_in_background(folder, config, run):
        (done, total)  after every training step of the current epoch
        str            a line for a log (only with log=True): epochs, early stop, best epoch
        EpochStats     after every epoch
        TrainResult    once, last, when training has ended

`run_training` is the whole run on top of it: it relays the same reports, then saves the
best epoch's weights with the caller's atomic writer, yields `Finished` (the result,
what the save returned, one line saying how the run ended), and frees the trainer slot
however it ends. Where the weights go is the caller's choice (the app: the visitor's
runs; the CLI: --out); everything else about a run lives here.

Leaving early (the page was closed, Ctrl-C) cancels the run and waits for the worker to
stop after its current batch: no trainer is left behind holding the CPU. An exception in
the trainer is raised again in the iterating thread.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import mlx.core as mx

from menny_core.dataset import ImageFolder
from menny_core.distributed import World
from menny_core.lessons import run_status
from menny_core.sessions import Run
from menny_core.train import SOLO, EpochStats, TrainConfig, TrainResult, train

Event = tuple[int, int] | str | EpochStats | TrainResult
_DONE = object()  # the worker's last message: training has ended, one way or another


def train_in_background(
    folder: str | os.PathLike | ImageFolder,
    config: TrainConfig,
    run: Run,
    log: bool = False,
    world: World = SOLO,
) -> Iterator[Event]:
    """`train.train(folder, config)` in a worker thread, its reports as a generator.

    folder: a discovered ImageFolder, or a folder of class sub-folders.

    run: the `sessions.Run` this training belongs to; its `should_stop` (Cancel pressed, or
    its time limit reached) is the trainer's, its epoch count follows the trainer's, and
    closing the generator early sets its Cancel flag. log: relay the trainer's log lines
    too (as str events). world: the processes training together (distributed.py).
    The thread is started by the first `next()`, and has finished
    when the generator ends, raises or closes.
    """
    events: queue.Queue = queue.Queue()
    outcome: dict[str, object] = {}

    def work() -> None:  # MLX trains here; the generator only relays what it reports
        try:
            outcome["result"] = train(
                folder,
                config,
                on_epoch=lambda stats: (run.epoch_done(), events.put(stats)),
                should_stop=run.should_stop,
                log=events.put if log else None,
                on_batch=lambda done, total: events.put((done, total)),
                world=world,
            )
        except Exception as error:  # raised again below, in the caller's thread
            outcome["error"] = error
        finally:
            # MLX 0.32 wants each thread's streams destroyed by the thread itself; left to
            # interpreter exit, they abort the process ("terminate called ...") about one
            # time in three.
            mx.clear_streams()
            events.put(_DONE)

    worker = threading.Thread(target=work, name="menny-train", daemon=True)
    worker.start()
    relayed_all = False
    try:
        while (event := events.get()) is not _DONE:
            yield event
        relayed_all = True
    finally:
        if not relayed_all:  # closed early: stop the trainer after its batch
            run.cancel_event.set()
        worker.join()
    error = outcome.get("error")
    if isinstance(error, BaseException):
        raise error
    yield outcome["result"]


@dataclass(frozen=True)
class Finished:
    """The last report of `run_training`.

    saved: what the caller's `save(result)` returned (a path, a saved-run record); None
    when no epoch finished, so there were no weights worth keeping. status: one line
    for people saying how the run ended.
    """

    result: TrainResult
    saved: Any
    status: str


def run_training(
    folder: str | os.PathLike | ImageFolder,
    config: TrainConfig,
    run: Run,
    save: Callable[[TrainResult], Any],
    log: bool = False,
    world: World = SOLO,
) -> Iterator[tuple[int, int] | str | EpochStats | Finished]:
    """Train (`train_in_background`'s reports relayed), save, and free the trainer.

    save(result): writes the best epoch's weights atomically (e.g. with `weights.save`)
    and returns what `Finished.saved` should hold; it is called only when at least one
    epoch finished, and its errors (a full disk) reach the caller; with several processes
    (world), only rank 0 saves. `run` is released when the generator ends, raises or is
    closed.
    """
    try:
        with closing(train_in_background(folder, config, run, log, world)) as events:
            for event in events:
                if isinstance(event, TrainResult):
                    result = event
                else:
                    yield event
        saved = save(result) if result.history and world.leader else None
        yield Finished(result, saved, ending(result, run))
    finally:
        run.release()


def ending(result: TrainResult, run: Run) -> str:
    """How a run ended, in one line: stopped by its time limit, cancelled, or done."""
    if result.cancelled and run.out_of_time() and not run.cancelled():
        minutes = (run.max_seconds or 0) / 60
        return (
            f"Stopped after {len(result.history)} epoch(s) at the limit of {minutes:g} minutes "
            "per run; the best epoch's weights are kept."
        )
    return run_status(result)
