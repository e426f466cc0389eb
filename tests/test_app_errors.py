"""Only MennyError sentences reach a visitor; anything else is a logged bug with one line."""

import logging

import gradio as gr
import pytest

from menny_app.inputs import for_people
from menny_base.errors import MennyError, WrongType


@for_people
def refuses(error: Exception):
    raise error


@for_people
def streams(error: Exception):
    yield "first"
    raise error


@pytest.mark.parametrize("handler", [refuses, lambda e: list(streams(e))])
def test_a_sentence_for_people_passes_as_it_is(handler):
    for error in (MennyError("stride must be >= 1, got 0"), WrongType("stride must be whole")):
        with pytest.raises(gr.Error) as shown:
            handler(error)
        assert shown.value.message == str(error)


@pytest.mark.parametrize("handler", [refuses, lambda e: list(streams(e))])
def test_any_other_error_is_a_logged_bug(handler, caplog):
    # A library's ValueError is not a sentence written for the learner: generic, and logged.
    for error in (KeyError("classes"), ValueError("operands could not be broadcast")):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="menny"), pytest.raises(gr.Error) as shown:
            handler(error)
        name = type(error).__name__
        assert shown.value.message == f"something went wrong on the server ({name}); it is logged"
        assert "broadcast" not in shown.value.message
        assert caplog.records and caplog.records[0].exc_info[0] is type(error)


def test_the_core_errors_are_menny_errors():
    from kernels_playground.arithmetic import WindowTooLarge
    from menny_base.images import ImageError
    from menny_base.numbers import NumberError
    from menny_core.dataset import DatasetError
    from menny_core.sessions import TrainingRefused
    from menny_core.visitors import SpaceExhausted
    from menny_core.weights import WeightsError

    for kind in (ImageError, NumberError, WindowTooLarge, DatasetError, WeightsError,
                 TrainingRefused, SpaceExhausted):  # fmt: skip
        assert issubclass(kind, MennyError), kind
