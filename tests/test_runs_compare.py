"""Runs compared (menny_core/runs.py, bug_lessons.py) on hand-written metadata, then the app:
/train with replay_bug, init_from and freeze, /compare_runs and /use_model through
gradio_client, each visitor with their own runs."""

import math
import re

import numpy as np
import pytest
from gradio_client import Client, handle_file
from mlx.utils import tree_flatten
from test_app_api import error_of, tiny_dataset_zip

from menny_core.bug_lessons import bug_lesson
from menny_core.runs import comparison_table, curves, start_of, start_sentence, twin
from menny_core.weights import load


def metadata(bug=None, init=None, freeze=0, accuracy=0.9, losses=(1.0, 0.5), fingerprint="f"):
    history = [
        {"epoch": i + 1, "train_loss": loss, "val_loss": loss + 0.1, "train_acc": 0.5,
         "val_acc": 0.6 + 0.1 * i, "images_per_s": 40.0, "seconds": 2.0}
        for i, loss in enumerate(losses)
    ]  # fmt: skip
    config = {"seed": 0, "lr": 0.002, "epochs": 2, "patience": 30, "dropout": 0.25,
              "replay_bug": bug, "init_from": init, "freeze": freeze}  # fmt: skip
    return {
        "classes": ["blue", "red"], "variant": "complex", "image_size": 32,
        "replay_bug": bug, "config": config, "history": history, "best_epoch": 2,
        "metrics": {"accuracy": accuracy, "confusion": [[2, 0], [1, 1]]},
        "dataset_fingerprint": fingerprint, "train_seconds": 12.3,
    }  # fmt: skip


def test_curves_overlay_both_runs_and_leave_out_missing_numbers():
    empty = metadata(bug="exhausted-stream")
    empty["history"][1]["train_loss"] = None  # no batch in epoch 2: stored as None
    losses, accuracies = curves([("run 1", metadata()), ("run 2", empty)])
    assert (1, 1.0, "run 1: train") in losses and (2, 0.6, "run 1: validation") in losses
    assert [r for r in losses if r[2] == "run 2: train"] == [(1, 1.0, "run 2: train")]
    assert len(accuracies) == 8
    assert all(not math.isnan(r[1]) for r in losses)


def test_the_table_puts_each_run_in_a_column():
    table = comparison_table(
        [("run 1", metadata()), ("run 2", metadata(init="menny.safetensors", freeze=3))]
    )
    lines = table.splitlines()
    assert lines[0] == "| | run 1 | run 2 |"
    assert "| test accuracy (whole photos) | 90.0% | 90.0% |" in lines
    assert "| start | from scratch | from menny.safetensors, 3 of the conv blocks frozen |" in lines
    assert "| training time | 12 s | 12 s |" in lines
    assert start_of(metadata(init="m.safetensors", freeze=1)).endswith(
        "1 of the conv blocks frozen"
    )


def test_twin_is_the_clean_run_of_the_same_settings_or_the_other_start():
    clean, other_data = ("run 1", metadata()), ("run 2", metadata(fingerprint="g"))
    bug = ("run 3", metadata(bug="tiny-lr"))
    other_bug = ("run 4", metadata(bug="fixed-rotation"))
    assert twin(bug, [clean, other_data, other_bug]) == clean
    assert twin(bug, [other_data, other_bug]) is None
    tuned = ("run 5", metadata(init="menny.safetensors", freeze=2))
    assert twin(tuned, [clean, bug]) == clean
    assert twin(clean, [tuned]) == tuned
    assert twin(clean, [other_data]) is None  # two runs from scratch: no yardstick


def test_a_fine_tuned_run_says_what_it_took():
    tuned = metadata(init="menny.safetensors", freeze=2)
    tuned["init"] = {"loaded": ["blocks.0.conv.weight", "blocks.1.conv.weight", "face.bias"],
                     "fresh": ["classifier.weight"]}  # fmt: skip
    assert start_sentence(tuned) == (
        "**Fine-tuned.** This run started from menny.safetensors, 2 of the conv blocks frozen: "
        "2 conv blocks loaded, a new class head for your classes; 2 block(s) did not learn. "
        "Train once from scratch with the same settings and seed, and compare test accuracy "
        "and time under Runs compared."
    )
    assert start_sentence(metadata()) == ""


def test_a_bug_lesson_uses_the_runs_own_numbers():
    run = ("run 2", metadata(bug="tiny-lr", accuracy=0.5, losses=(2.5, 2.4)))
    text = bug_lesson(run, ("run 1", metadata()))
    assert text.startswith("**Bug replayed: tiny-lr.** A learning rate of 1e-5")
    assert "went from 2.500 to 2.400 in 2 epochs" in text
    assert "75% of the test photos were called blue" in text  # the confusion's column sums
    assert "test accuracy 50% with the bug against 90% without" in text
    alone = bug_lesson(run, None)
    assert "Train once more with the bug set to none" in alone
    softmax = bug_lesson(("run 3", metadata(bug="softmax-before-loss", losses=(0.9, 0.4))), None)
    assert "log(1 + 1/e) = 0.313 nats" in softmax and "was 0.400" in softmax
    assert bug_lesson(("run 1", metadata()), None) == ""


# -- through the app ------------------------------------------------------------------------


def train(client, data, **changes):
    settings = dict(
        source="my .zip", upload=data, flip_prob=0.5, rotation=15, crop_low=0.6, grey_prob=0.0,
        variant="complex", epochs=1, batch_size=8, lr=3e-3, weight_decay=1e-4, dropout=0.25,
        patience=3, seed=0, strangers=False, negatives=False,
    )  # fmt: skip
    return client.predict(**{**settings, **changes}, api_name="/train")


@pytest.fixture(scope="module")
def visitor(app_url, running_app, tmp_path_factory):
    """A visitor of their own (a new client session) with three runs on the tiny zip: clean,
    tiny-lr, and fine-tuned from the shipped Menny with every conv block frozen."""
    client = Client(app_url, verbose=False)
    data = handle_file(str(tiny_dataset_zip(tmp_path_factory.mktemp("compare"))))
    runs = [
        train(client, data),
        train(client, data, replay_bug="tiny-lr"),
        train(client, data, init_from="the shipped Menny", freeze=5),
    ]
    state = running_app[1].visitors.visit(client.session_hash)
    return client, runs, state, running_app[1]


def test_a_bug_run_is_labelled_and_explained_next_to_the_clean_one(visitor):
    _, runs, state, _session = visitor
    status, losses, _accuracies, _metrics, _confusion, learn, _ = runs[1]
    assert status.startswith("Bug replayed: tiny-lr. Done in ")
    assert state.runs[1].name.endswith(", on tiny.zip, bug: tiny-lr")
    assert load(state.runs[1].weights)[1]["replay_bug"] == "tiny-lr"
    assert learn.startswith("**Bug replayed: tiny-lr.**")
    assert f"Next to the clean run {state.runs[0].name}" in learn.replace("\\", "")
    assert runs[0][0].startswith("Done in ")  # the clean run is not marked
    assert {row[2] for row in losses["data"]} == {
        "train (bug: tiny-lr)",
        "validation (bug: tiny-lr)",
    }  # the curves say it too


def test_fine_tuning_from_the_shipped_menny_keeps_frozen_blocks(visitor):
    _, runs, state, session = visitor
    tuned, metadata = load(state.runs[2].weights)
    shipped = dict(tree_flatten(load(session.shipped)[0].parameters()))
    for key, value in tree_flatten(tuned.parameters()):
        if key.startswith("blocks."):
            np.testing.assert_array_equal(np.array(value), np.array(shipped[key]), err_msg=key)
    assert metadata["config"]["init_from"] == "menny.safetensors"  # never the server's path
    assert state.runs[2].name.endswith(", from the shipped Menny, 5 frozen")
    assert "Transfer learning, measured." in runs[2][5]


def test_compare_runs_overlays_two_runs(visitor):
    client, _runs, state, _ = visitor
    losses, accuracies, table, note = client.predict("run 3", "run 1", api_name="/compare_runs")
    names = {row[2] for row in losses["data"]}
    assert names == {
        f"{state.runs[i].name}: {kind}" for i in (2, 0) for kind in ("train", "validation")
    }
    assert len(accuracies["data"]) == 4  # one epoch, two curves, two runs
    header = table.splitlines()[0].replace("\\", "")
    assert state.runs[2].name in header and state.runs[0].name in header
    assert "| test accuracy (whole photos) |" in table
    assert note.startswith("**Transfer learning, measured.**")
    # No choice: the two latest runs.
    table = client.predict(api_name="/compare_runs")[2]
    assert state.runs[2].name in table.replace("\\", "") and state.runs[1].name in table.replace(
        "\\", ""
    )


def test_the_visitor_picks_the_model_classify_uses(visitor):
    client, _runs, state, _ = visitor
    note = client.predict("the shipped Menny", api_name="/use_model")
    assert note.endswith("Classify uses the shipped Menny.")
    assert state.current is None
    note = client.predict(state.runs[0].name, api_name="/use_model")
    assert state.current is state.runs[0] and "trained in this session" in note
    message = error_of(lambda: client.predict("run 9", api_name="/use_model"))
    assert message.startswith("'run 9' is not one of your runs (yours: run 1, ")


def test_an_exhausted_stream_run_draws_only_the_epochs_that_trained(app_url, tmp_path):
    client = Client(app_url, verbose=False)  # a visitor of their own: a fourth run elsewhere
    data = handle_file(str(tiny_dataset_zip(tmp_path)))
    status, losses, *_rest, learn, _ = train(client, data, epochs=2, replay_bug="exhausted-stream")
    assert status.startswith("Bug replayed: exhausted-stream. Done in ")
    rows = sorted((row[0], row[2]) for row in losses["data"])
    assert rows == [
        (1, "train (bug: exhausted-stream)"),
        (1, "validation (bug: exhausted-stream)"),
        (2, "validation (bug: exhausted-stream)"),  # epoch 2 trained on nothing
    ]
    assert re.search(r"Pictures trained per epoch: [1-9]\d*, 0\. ", learn)


def test_bad_run_settings_are_sentences(visitor, tmp_path):
    client = visitor[0]
    data = handle_file(str(tiny_dataset_zip(tmp_path)))
    message = error_of(lambda: train(client, data, init_from="/etc/passwd"))
    assert message == (
        "Start from must be one of 'from scratch', 'the shipped Menny', got '/etc/passwd'"
    )
    message = error_of(lambda: train(client, data, replay_bug="typo"))
    assert message.startswith("Replay a bug must be one of 'none', 'softmax-before-loss', ")
    message = error_of(lambda: train(client, data, freeze=2))
    assert message.startswith("freezing 2 conv block(s) needs trained weights to start from")
    stranger = Client(client.src, verbose=False)
    assert error_of(lambda: stranger.predict(api_name="/compare_runs")) == (
        "you have no runs yet: train one, then compare it with another"
    )
