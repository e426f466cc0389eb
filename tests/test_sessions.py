"""The trainer: one run at a time, a busy sentence with the time left, cancel by the owner,
and a wall-clock budget."""

import threading

import pytest

from menny_core.sessions import Trainer, TrainingRefused


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_second_run_is_refused_with_the_time_left():
    clock = FakeClock()
    trainer = Trainer(clock=clock)
    with trainer.begin(owner="a", epochs=10) as run:
        clock.now += 12.2
        with pytest.raises(TrainingRefused) as refused:
            trainer.start(owner="b")
        assert str(refused.value) == (
            "the trainer is busy with another run (it started 12 s ago); one run trains at a "
            "time: try again when it ends, or press Cancel if it is yours"
        )
        run.epoch_done(), run.epoch_done()  # 2 epochs in 12.2 s: 8 more take about 49 s
        with pytest.raises(TrainingRefused, match=r"your own run \(about 49 s left, epoch 2 of"):
            trainer.start(owner="a")
    assert not trainer.busy  # the block ended: the trainer is free again
    trainer.release(trainer.start())


def test_the_time_limit_stops_a_run():
    clock = FakeClock()
    run = Trainer(clock=clock).start(epochs=100, max_seconds=60)
    assert not run.should_stop() and run.seconds_left() == 60
    clock.now += 59.5
    assert not run.should_stop()
    clock.now += 1
    assert run.should_stop() and run.out_of_time() and not run.cancelled()
    assert run.seconds_left() == 0


def test_failed_run_frees_the_trainer():
    trainer = Trainer()
    with pytest.raises(RuntimeError, match="boom"), trainer.begin():
        raise RuntimeError("boom")
    assert not trainer.busy


def test_cancel_sets_the_flag_of_the_active_run_only():
    trainer = Trainer()
    assert trainer.cancel() is False  # nothing to cancel
    with trainer.begin() as run:
        assert not run.cancelled()
        assert trainer.cancel() is True
        assert run.cancelled() and run.should_stop()
    with trainer.begin() as fresh:
        assert not fresh.cancelled()


def test_only_the_owner_cancels_an_owned_run():
    trainer = Trainer()
    run = trainer.start(owner="visitor-a")
    for stranger in ("visitor-b", None):
        with pytest.raises(TrainingRefused, match="started by another visitor; only they can"):
            trainer.cancel(stranger)
        assert not run.cancelled()
    assert trainer.cancel("visitor-a") is True and run.cancelled()
    trainer.release(run)
    assert trainer.cancel("visitor-b") is False  # nothing runs: nothing to refuse either


def test_only_one_of_many_threads_gets_the_trainer():
    trainer = Trainer()
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            trainer.start()
            outcomes.append("ran")
        except TrainingRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ran"] + ["refused"] * 7
