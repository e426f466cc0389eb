"""What the Classify and Train tabs share in one app process, and the public demo's limits.

One trainer for the whole server (menny_core.sessions), each visitor's own runs, uploads
and model (menny_core.visitors), and the loaded models, shipped and trained.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from menny_base.errors import MennyError
from menny_core.markdown import escape
from menny_core.sessions import Trainer
from menny_core.visitors import Visitors

# A public demo's limits (the Train tab and the README say them). One CPU serves everyone:
CPU_WORKERS = 2  # requests of one kind computing at once (the machine's cores)
MAX_EPOCHS, MAX_BATCH = 200, 128  # the shipped recipe is 120 epochs; MAX_RUN_SECONDS caps any run
MAX_RUN_SECONDS = 600  # a run stops after 10 minutes, keeping its best epoch
RUNS_PER_HOUR = 10  # per visitor
MODELS_IN_MEMORY = 8  # visitors' trained models kept loaded (about 1 MB each)
APP_FOLDER = "menny-app"  # in --workdir: visitors' runs and uploads; remade at every start
DISK_QUOTA = 2 * 2**30  # bytes for everything in APP_FOLDER (--disk-quota)
IDLE_SECONDS = 3600  # a visitor unseen this long is released (browsers say goodbye sooner)


class Session:
    """What the Classify and Train tabs share in this process: the one trainer, the
    visitors (each with their own runs, uploads and model; see menny_core.visitors) and the
    shipped model, which answers every visitor until they train their own."""

    def __init__(
        self,
        workdir: Path,
        weights: Path | None,
        allow_training: bool,
        disk_quota: int = DISK_QUOTA,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        # Missing shipped weights are not fatal: the playground and shapes tabs still work,
        # and Classify says to train a model first.
        self.shipped = Path(weights).resolve() if weights and Path(weights).is_file() else None
        self.allow_training = allow_training
        self.trainer = Trainer()
        self.visitors = Visitors(
            Path(workdir) / APP_FOLDER, disk_quota, idle_seconds, runs_per_hour=RUNS_PER_HOUR
        )
        self._predictors: OrderedDict[Path, object] = OrderedDict()
        self._lock = threading.Lock()

    def predictor(self, path: Path):
        """The model in `path`, loaded once; the few most recently used stay in memory."""
        from menny_core.predict import Predictor  # loaded on first use: a faster start

        with self._lock:
            if path in self._predictors:
                self._predictors.move_to_end(path)
                return self._predictors[path]
        loaded = Predictor(path)
        with self._lock:
            self._predictors[path] = loaded
            while len(self._predictors) > MODELS_IN_MEMORY:
                self._predictors.popitem(last=False)
        return loaded

    def model_for(self, request: gr.Request | None):
        """(predictor, one markdown line naming it) for this visitor: their latest run, or
        the shipped model."""
        visitor = self.visitors.visit(visitor_id(request))
        run, note = self.visitors.current_run(visitor)
        if run is not None:
            return self.predictor(run.weights), (
                f"Classify uses the model you trained in this session: {escape(run.name)}."
            )
        if self.shipped is None:
            raise MennyError("there is no model yet: train one in the Train tab")
        return self.predictor(self.shipped), f"{note} Classify uses the shipped Menny.".strip()

    def describe_model(self, request: gr.Request = None) -> str:
        try:
            return self.model_for(request)[1]
        except MennyError as error:
            return str(error).capitalize() + "."

    def leave(self, request: gr.Request = None) -> None:
        """A browser tab closed: release that visitor's runs and files."""
        self.visitors.leave(visitor_id(request))


def visitor_id(request: gr.Request | None) -> str | None:
    """Who is asking: the browser session (each gradio_client has its own); None in-process."""
    return getattr(request, "session_hash", None)


def with_session(handler: Callable, session: Session) -> Callable:
    """`handler` with its first parameter (the app's Session) filled in, as a plain function
    that keeps the rest of its signature and type hints: Gradio reads them for the API's
    parameter names, to pass gr.Request and gr.Progress, and to stream a generator (a
    functools.partial hides the hints, and with them the visitor's identity)."""
    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def bound(*args, **kwargs):
            yield from handler(session, *args, **kwargs)

    else:

        @functools.wraps(handler)
        def bound(*args, **kwargs):
            return handler(session, *args, **kwargs)

    signature = inspect.signature(handler)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    return bound
