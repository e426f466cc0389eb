"""The command line: `python demo.py [flags]` checks its flags, builds the app and serves it.

Also the login check (throttled) and the line that says what a shared link exposes.
"""

from __future__ import annotations

import argparse
import hmac
import io
import os
import sys
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from kernels_playground.convolve import warm_up
from menny_app.inputs import MAX_UPLOAD_BYTES, ROOT
from menny_app.layout import CACHE_MINUTES, CSS, build_app
from menny_app.session import APP_FOLDER, CPU_WORKERS, DISK_QUOTA, Session
from menny_base import fast_blas
from menny_base.errors import MennyError
from menny_base.numbers import whole
from menny_core.predict import check_weights
from menny_core.visitors import remove_empty_folders

SHIPPED_WEIGHTS = ROOT / "weights" / "menny.safetensors"
QUEUE_SIZE = 256  # requests that may wait in Gradio's queue; beyond it: "queue full"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Menny: learn CNNs by turning the knobs.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: LAN)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public link")
    parser.add_argument(
        "--auth",
        metavar="USER:PASS",
        help="require this login (visible to `ps`: prefer the two below)",
    )
    parser.add_argument("--auth-file", type=Path, metavar="FILE", help="read USER:PASS from FILE")
    parser.add_argument("--no-train", action="store_true", help="hide the Train tab")
    parser.add_argument(
        "--allow-train",
        action="store_true",
        help="with --share: keep the Train tab (off by default)",
    )
    parser.add_argument("--weights", type=Path, default=SHIPPED_WEIGHTS, help="model to serve")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path.cwd(),
        help=f"where the app keeps visitors' runs and uploads, in {APP_FOLDER}/ (default: here)",
    )
    parser.add_argument(
        "--disk-quota",
        type=int,
        default=DISK_QUOTA // 2**20,
        metavar="MB",
        help=f"the most {APP_FOLDER}/ may hold (default {DISK_QUOTA // 2**20} MB)",
    )
    parser.add_argument(
        "--cache-minutes",
        type=int,
        default=CACHE_MINUTES,
        metavar="N",
        help=f"Gradio's cache keeps uploads and shown images N minutes (default {CACHE_MINUTES})",
    )
    return parser.parse_args(argv)


def parse_auth(text: str | None, origin: str = "--auth") -> tuple[str, str] | None:
    """'USER:PASS' as a (user, password) pair; ValueError with one sentence otherwise
    (which never repeats the password)."""
    if text is None:
        return None
    user, colon, password = text.strip().partition(":")
    if not colon or not user or not password:
        raise MennyError(f"{origin} must hold USER:PASS (both non-empty)")
    return user, password


def read_credentials(args: argparse.Namespace) -> tuple[str, str] | None:
    """The login from --auth, --auth-file or the MENNY_AUTH variable, in that order."""
    if args.auth is not None:
        return parse_auth(args.auth)
    if args.auth_file is not None:
        try:
            text = args.auth_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise MennyError(f"--auth-file {args.auth_file} cannot be read ({reason})") from None
        return parse_auth(text, f"--auth-file {args.auth_file}")
    return parse_auth(os.environ.get("MENNY_AUTH"), "MENNY_AUTH")


class Login:
    """Gradio's `auth` check for one user, throttled: after `max_failures` wrong attempts
    within `window` seconds every attempt fails unchecked until the window has passed, so
    guessing is held to a few tries a minute (Gradio itself allows ~80 a second)."""

    def __init__(self, user: str, password: str, max_failures: int = 5, window: float = 60):
        self._user, self._password = user.encode(), password.encode()
        self.max_failures, self.window = max_failures, window
        self._failures: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, user: str, password: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self._failures = [t for t in self._failures if now - t < self.window]
            if len(self._failures) >= self.max_failures:
                return False
            right = hmac.compare_digest(str(user).encode(), self._user) & hmac.compare_digest(
                str(password).encode(), self._password
            )
            if not right:
                self._failures.append(now)
            return right


def launch(app: gr.Blocks, args: argparse.Namespace, auth) -> str:
    """Start serving without blocking; returns the local URL. A share link that cannot be
    made (no internet) costs one printed line, and the app keeps serving locally.

    The queue: each kind of request has its own concurrency group of CPU_WORKERS (see the
    events), so a burst of classify calls never makes the playground wait behind them;
    max_size bounds what may wait at all (beyond it Gradio answers "queue full")."""
    captured = io.StringIO()
    with redirect_stdout(captured):  # Gradio's share failure is a paragraph; we say one line
        app.queue(default_concurrency_limit=CPU_WORKERS, max_size=QUEUE_SIZE).launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            auth=auth,
            prevent_thread_lock=True,
            quiet=True,
            max_file_size=MAX_UPLOAD_BYTES,
            css=CSS,
        )
    if args.share:
        if app.share_url:
            print(f"Public link: {app.share_url}")
        else:
            print(
                "No public link: Gradio's share server is unreachable (no internet?); "
                "serving locally only."
            )
        print(exposure(args, auth is not None))
    threading.Thread(
        target=_sweep_gradio_cache, args=(app,), name="menny-cache-sweeper", daemon=True
    ).start()
    # Many small requests share the cores: one BLAS thread each (see fast_blas.set_threads).
    fast_blas.set_threads(1)
    # Build MLX's convolution kernels now, not on a learner's first click (see warm_up).
    threading.Thread(target=warm_up, name="menny-warm-up", daemon=True).start()
    return app.local_url


def _sweep_gradio_cache(app: gr.Blocks) -> None:
    """Gradio's expiry (delete_cache) removes its files, not their folders: sweep those as
    often as it runs, for as long as the app serves."""
    every, _age = app.delete_cache or (600, 0)
    while app.is_running:
        time.sleep(every)
        remove_empty_folders(Path(get_upload_folder()), older_than=60)


def training_allowed(args: argparse.Namespace) -> bool:
    """Training takes the whole CPU: off with --no-train, and off with --share unless
    --allow-train says otherwise."""
    return not args.no_train and (not args.share or args.allow_train)


def exposure(args: argparse.Namespace, login: bool) -> str:
    """One line saying what a shared link exposes."""
    tabs = "playground, shapes, classify" + (" and training" if training_allowed(args) else "")
    who = "only with the login" if login else "anyone with the link (no login: see --auth-file)"
    off = "" if training_allowed(args) else "; training is off (--allow-train turns it on)"
    return f"Shared: {tabs}, for {who}{off}."


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        credentials = read_credentials(args)
        if args.weights.is_file() or args.weights != SHIPPED_WEIGHTS:
            check_weights(args.weights)  # a model that cannot answer is refused here
        disk_quota = whole(args.disk_quota, "--disk-quota", 1, unit=" MB") * 2**20
        cache_minutes = whole(args.cache_minutes, "--cache-minutes", 1, 7 * 24 * 60)
        session = Session(args.workdir.resolve(), args.weights, training_allowed(args), disk_quota)
    except ValueError as error:
        print(f"demo.py: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    auth = None if credentials is None else Login(*credentials)
    app = build_app(session, cache_minutes)
    try:
        url = launch(app, args, auth)
    except OSError as error:  # Gradio: "Cannot find empty port in range: 7860-7860. ..."
        print(
            f"demo.py: error: cannot serve on {args.host}:{args.port} "
            f"({error.strerror or 'in use'}); pick another with --port",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    print(f"Menny is ready at {url}; Ctrl+C stops it.")
    app.block_thread()
