"""Train in a worker thread and hand its reports to the caller as a generator.

A web handler must keep answering (progress bar, live curves) while MLX trains, and a
Gradio handler streams by yielding. So the trainer runs in a thread of its own and
reports through a queue; `train_in_background` relays those reports, in order, to
whichever thread iterates it:

    for event in train_in_background(folder, config, run):
        (done, total)  after every training step of the current epoch
        EpochStats     after every epoch
        TrainResult    once, last, when training has ended

Leaving early (the page was closed, so the generator is closed) cancels the run and
waits for the worker to stop after its current batch: no trainer is left behind holding
the CPU. An exception in the trainer is raised again in the iterating thread.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator

import mlx.core as mx

from menny_core.dataset import ImageFolder
from menny_core.sessions import Run
from menny_core.train import EpochStats, TrainConfig, TrainResult, train

Event = tuple[int, int] | EpochStats | TrainResult
_DONE = object()  # the worker's last message: training has ended, one way or another


def train_in_background(
    folder: str | os.PathLike | ImageFolder, config: TrainConfig, run: Run
) -> Iterator[Event]:
    """`train.train(folder, config)` in a worker thread, its reports as a generator.

    folder: a discovered ImageFolder, or a folder of class sub-folders.

    run: the `sessions.Run` this training belongs to; its `should_stop` (Cancel pressed, or
    its time limit reached) is the trainer's, its epoch count follows the trainer's, and
    closing the generator early sets its Cancel flag. The thread is started
    by the first `next()`, and has finished when the generator ends, raises or closes.
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
                log=None,
                on_batch=lambda done, total: events.put((done, total)),
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
