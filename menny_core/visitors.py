"""Each visitor's own models and files: kept apart, named in their words, cleaned up, bounded.

On a public demo, what one visitor trains must not become another's model, and files must
not pile up. `Visitors` gives every visitor (the app: a Gradio session) a `Visitor` with

- a private folder `root/<random token>/` (never named after anything the visitor sent),
  holding their unpacked zips (`uploads/`, at most `keep_uploads`), the converted-image
  cache (`cache/`) and their runs (`runs/<n>/menny.safetensors`, at most `keep_runs`);
- their runs as `SavedRun`s named for people ("run 2, 12:41, complex, 30 epochs"), and
  which one answers their Classify tab (the latest; the shipped model before any);
- a budget of `runs_per_hour` training starts, so one visitor cannot hold the CPU.

A visitor who leaves (the app's unload hook) or stays idle for `idle_seconds` is released:
their folder is deleted. Everything lives under one `root`, which is wiped when the app
starts (runs of a previous process belong to visitors who are gone, and a run killed
mid-save leaves nothing a restart could pick up), and whose size is held under a `Quota`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from menny_base.errors import MennyError
from menny_core.archive import UnpackedZips, megabytes
from menny_core.sessions import WEIGHTS_NAME, TrainingRefused

MARKER = ".menny-app"  # only a folder carrying it is ever wiped


class SpaceExhausted(MennyError):
    """The app's disk quota (or the disk itself) has no room for what was asked."""


class Quota:
    """At most `max_bytes` under `folder`: what it holds is measured, not bookkept, so files
    written by any path (an unpack, a save, the image cache) count."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = Path(folder), int(max_bytes)

    def used(self) -> int:
        total = 0
        for parent, _dirs, files in os.walk(self.folder):
            for name in files:
                with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                    total += os.lstat(os.path.join(parent, name)).st_size
        return total

    def require(self, needed: int, what: str) -> None:
        """SpaceExhausted with a sentence if `needed` more bytes would not fit."""
        used = self.used()
        if used + needed > self.max_bytes:
            raise SpaceExhausted(
                f"the server has no room for {what} right now ({megabytes(used)} of its "
                f"{megabytes(self.max_bytes)} for visitors' files are in use); "
                "try again later or with a smaller file"
            )


@dataclass(frozen=True)
class SavedRun:
    """A finished run of one visitor: its number (1, 2, ...) and name, and its weights."""

    number: int
    name: str
    weights: Path


@dataclass
class Visitor:
    folder: Path
    uploads: UnpackedZips
    last_seen: float
    runs: list[SavedRun] = field(default_factory=list)
    current: SavedRun | None = None  # None: the shipped model answers
    run_count: int = 0  # runs started so far (numbers the next run)
    starts: list[float] = field(default_factory=list)  # clock times of recent starts

    @property
    def cache(self) -> Path:
        return self.folder / "cache"


def wipe_and_mark(root: Path) -> Path:
    """Empty `root` (if it is ours: it carries MARKER) and mark it as this process's; refuse
    a folder that holds files the app did not make, or that another running app uses (a
    second `python demo.py` in the same folder must not delete the first one's visitors'
    files, even if it then fails for a busy port)."""
    root = Path(root).resolve()
    if root.exists():
        marker = root / MARKER
        if not marker.is_file() and any(root.iterdir()):
            raise MennyError(
                f"{root} exists and was not made by the app: give another --workdir, or "
                "remove that folder"
            )
        owner = _owner(marker)
        if owner is not None:
            raise MennyError(
                f"{root} is in use by another running Menny app (process {owner}): give "
                "another --workdir, or stop that app first"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text(
        f"Menny's app data: deleted and remade at every start.\npid: {os.getpid()}\n"
    )
    return root


def _owner(marker: Path) -> int | None:
    """The process id in `marker` if that process still runs and is not this one."""
    try:
        found = re.search(r"^pid: (\d+)$", marker.read_text(), re.M)
    except OSError:
        return None
    pid = int(found.group(1)) if found else None
    if pid is None or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return None
    except PermissionError:  # it exists, under another user
        return pid
    return pid


def remove_empty_folders(root: Path, older_than: float) -> int:
    """Delete the empty sub-folders of `root` not changed for `older_than` seconds; return
    how many went. Gradio's cache expiry deletes its files but not the one-file folders it
    made for them, and those pile up (4 KB each, thousands an hour on a busy demo). The
    age keeps a folder that was just made, and is about to get its file, safe."""
    removed, now = 0, time.time()
    for parent, _folders, _files in os.walk(root, topdown=False):  # children first
        if Path(parent) == Path(root):
            continue
        with contextlib.suppress(OSError):  # rmdir refuses a folder that is not empty
            if now - os.stat(parent).st_mtime > older_than:
                os.rmdir(parent)
                removed += 1
    return removed


class Visitors:
    """All visitors of one app process. clock: seconds, monotonic; injectable for tests."""

    def __init__(
        self,
        root: Path,
        quota_bytes: int,
        idle_seconds: float = 3600,
        keep_runs: int = 3,
        keep_uploads: int = 2,
        runs_per_hour: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = wipe_and_mark(root)
        self.quota = Quota(self.root, quota_bytes)
        self.idle_seconds, self.keep_runs = idle_seconds, keep_runs
        self.keep_uploads, self.runs_per_hour = keep_uploads, runs_per_hour
        self._clock = clock
        self._lock = threading.Lock()
        self._visitors: dict[str, Visitor] = {}

    def visit(self, visitor_id: str | None) -> Visitor:
        """The visitor's state (made on first visit), marked as seen now. Visitors idle for
        longer than `idle_seconds` are released on the way."""
        key = visitor_id or "local"  # in-process callers (tests, scripts) share one
        now = self._clock()
        with self._lock:
            gone = [k for k, v in self._visitors.items() if now - v.last_seen > self.idle_seconds]
            released = [self._visitors.pop(k) for k in gone if k != key]
            visitor = self._visitors.get(key)
            if visitor is None:
                folder = self.root / secrets.token_hex(8)
                uploads = UnpackedZips(folder / "uploads", self.keep_uploads, self.quota.require)
                visitor = self._visitors[key] = Visitor(folder, uploads, now)
            visitor.last_seen = now
        for old in released:
            shutil.rmtree(old.folder, ignore_errors=True)
        return visitor

    def leave(self, visitor_id: str | None) -> None:
        """Release a visitor now: their runs, uploads and cache are deleted."""
        with self._lock:
            visitor = self._visitors.pop(visitor_id or "local", None)
        if visitor is not None:
            shutil.rmtree(visitor.folder, ignore_errors=True)

    def __len__(self) -> int:
        with self._lock:
            return len(self._visitors)

    # -- runs ------------------------------------------------------------------

    def claim_run(self, visitor: Visitor) -> int:
        """Count a new run against the visitor's hourly budget and give its number, or
        raise TrainingRefused when the budget is spent."""
        now = self._clock()
        with self._lock:
            visitor.starts = [t for t in visitor.starts if now - t < 3600]
            if len(visitor.starts) >= self.runs_per_hour:
                wait = 3600 - (now - visitor.starts[0])
                raise TrainingRefused(
                    f"you have started {len(visitor.starts)} training runs in the last hour, "
                    f"the most one visitor may (so others get a turn); the next is possible "
                    f"in {wait / 60:.0f} min"
                )
            visitor.starts.append(now)
            visitor.run_count += 1
            return visitor.run_count

    def save_run(
        self, visitor: Visitor, number: int, summary: str, save: Callable[[Path], object]
    ) -> SavedRun:
        """Write a finished run's weights with `save(path)` (an atomic writer such as
        `weights.save`), name it "run N, HH:MM, <summary>" and make it the visitor's
        current model. The visitor's oldest runs beyond `keep_runs` are deleted.
        A full quota or disk is SpaceExhausted, and nothing is left half-written."""
        self.quota.require(2 * 2**20, "another trained model")  # a Menny is 0.1-1 MB
        folder = visitor.folder / "runs" / str(number)
        try:
            save(folder / WEIGHTS_NAME)
        except OSError as error:  # ENOSPC, EDQUOT, EROFS: the disk, not the visitor
            shutil.rmtree(folder, ignore_errors=True)
            raise SpaceExhausted(
                f"the trained model could not be saved ({error.strerror or 'disk error'}); "
                "the Classify tab keeps its model"
            ) from None
        saved = SavedRun(
            number, f"run {number}, {datetime.now():%H:%M}, {summary}", folder / WEIGHTS_NAME
        )
        with self._lock:
            visitor.runs.append(saved)
            visitor.current = saved
            old, visitor.runs = visitor.runs[: -self.keep_runs], visitor.runs[-self.keep_runs :]
        for run in old:
            shutil.rmtree(run.weights.parent, ignore_errors=True)
        return saved

    def choose(self, visitor: Visitor, number: int | None) -> SavedRun | None:
        """Make the visitor's run `number` the model their Classify tab uses (None: the
        shipped model again); a MennyError naming the runs they have otherwise."""
        with self._lock:
            if number is None:
                visitor.current = None
                return None
            for run in visitor.runs:
                if run.number == number:
                    visitor.current = run
                    return run
            kept = ", ".join(str(r.number) for r in visitor.runs) or "none yet"
        raise MennyError(f"you have no run {number} (your runs: {kept})")

    def current_run(self, visitor: Visitor) -> tuple[SavedRun | None, str]:
        """The run whose model answers this visitor (None: the shipped model), and a note
        if their run's file vanished and the shipped model answers again."""
        with self._lock:
            run = visitor.current
            if run is None or run.weights.is_file():
                return run, ""
            visitor.current = None
            visitor.runs = [r for r in visitor.runs if r is not run]
        return (
            None,
            f"The weights of {run.name} are gone from the server; back to the shipped model.",
        )
