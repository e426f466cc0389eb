"""What bench/load.py and bench/soak.py share: the app as a child process, and its visitors.

- `served_app`: `python demo.py` on a free loopback port with its own temporary --workdir and
  Gradio temp folder (GRADIO_TEMP_DIR), until it answers HTTP 200; always stopped on the way
  out (its whole process group), even on Ctrl+C or SIGTERM. Or an already running app (--url).
- `rss_mb` / `disk_mb`: the server's resident memory (VmRSS of the process and its children)
  and the disk a folder takes, in MB.
- `parse_args`: the scripts' command line with --demo-args, the flags passed on to demo.py.
- `make_visitors` + `call`: one gradio_client.Client per simulated visitor, and one API call
  that never raises: its latency or its error lands in a `Calls` record, and it gives up at a
  deadline, so every loop built on it ends in bounded time.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
START_SECONDS = 120  # a cold start (imports, MLX warm-up) takes ~5-15 s on the 2-core machines


@dataclass
class App:
    """A running app: its URL and, when this script started it, its process and folders."""

    url: str
    pid: int | None = None  # None: an app started by someone else (--url)
    workdir: Path | None = None
    gradio_temp: Path | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answers(url: str, process: subprocess.Popen | None, log: Path | None) -> None:
    """Poll `url` until HTTP 200, for at most START_SECONDS; say why if the app died first."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"demo.py exited with code {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the app at {url} did not answer within {START_SECONDS} s")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group this script created, then SIGKILL after 15 s."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue


def _raise_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")


@contextmanager
def served_app(url: str | None, demo_args: list[str]) -> Iterator[App]:
    """The app to measure: the one at `url` (loopback only), or `python demo.py` started here
    with `demo_args` passed through, stopped when the block ends."""
    if url is not None:
        if urlparse(url).hostname not in LOOPBACK_HOSTS:
            raise SystemExit(f"--url must be a loopback address ({', '.join(LOOPBACK_HOSTS)})")
        wait_until_answers(url, None, None)
        yield App(url)
        return
    signal.signal(signal.SIGTERM, _raise_on_sigterm)  # so that `finally` stops the server
    with tempfile.TemporaryDirectory(prefix="menny-bench-") as folder:
        workdir, gradio_temp = Path(folder, "workdir"), Path(folder, "gradio-temp")
        workdir.mkdir()
        gradio_temp.mkdir()
        port = free_port()
        env = {**os.environ, "GRADIO_TEMP_DIR": str(gradio_temp)}
        env["GRADIO_ANALYTICS_ENABLED"] = "False"
        command = [sys.executable, str(ROOT / "demo.py"), "--port", str(port)]
        command += ["--workdir", str(workdir), *demo_args]
        log = Path(folder, "demo.log")
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with its children
            )
        try:
            app_url = f"http://127.0.0.1:{port}/"
            wait_until_answers(app_url, process, log)
            yield App(app_url, process.pid, workdir, gradio_temp)
        finally:
            _stop(process)


def parse_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The command line, plus --demo-args (flags passed on to demo.py, as a list). Accepts
    `--demo-args "--no-train"`, which argparse alone takes for a missing value."""
    parser.add_argument("--demo-args", default="", help='flags for demo.py, e.g. "--no-train"')
    argv = sys.argv[1:]
    if "--demo-args" in argv[:-1]:
        at = argv.index("--demo-args")
        argv[at : at + 2] = [f"--demo-args={argv[at + 1]}"]
    args = parser.parse_args(argv)
    args.demo_args = shlex.split(args.demo_args)
    return args


# -- what the server uses ----------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc/<pid>/task/*/children (Linux)."""
    found, todo = [], [pid]
    while todo and len(found) < 1000:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with suppress(OSError):
                todo += [int(child) for child in children.read_text().split()]
    return found


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of `pid` and its children in MB (VmRSS); None without a pid."""
    if pid is None:
        return None
    kilobytes = 0
    for process in _descendants(pid):
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except OSError:
            continue  # ended between the listing and the read
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                kilobytes += int(line.split()[1])
    return round(kilobytes / 1024, 1)


def disk_mb(folder: Path | None) -> float | None:
    """Disk used by the files under `folder` in MB (allocated blocks, as `du` counts)."""
    if folder is None:
        return None
    blocks = 0
    for parent, _dirs, files in os.walk(folder):
        for name in files:
            with suppress(OSError):
                blocks += os.lstat(os.path.join(parent, name)).st_blocks
    return round(blocks * 512 / 2**20, 2)


# -- visitors and their calls ------------------------------------------------


def make_visitors(url: str, count: int, downloads: Path | None = None) -> list[Client]:
    """`count` clients, each its own visitor (session), made in parallel before any timing.
    Outputs are not downloaded unless `downloads` is a folder: a browser fetches them, but
    here the downloading client would share the server's CPU and blur its figures."""

    def visitor(_: int) -> Client:
        return Client(url, verbose=False, download_files=downloads or False, max_workers=4)

    with ThreadPoolExecutor(min(count, 16)) as pool:
        return list(pool.map(visitor, range(count)))


@dataclass
class Calls:
    """Latencies (s) of the calls that answered and the error text of those that failed."""

    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """ok / failed counts, the first error, and p50 / p95 / max latency in ms."""
        ordered = sorted(self.seconds)

        def ms(value: float | None) -> float | None:
            return None if value is None else round(1000 * value, 1)

        def quantile(q: float) -> float | None:
            if not ordered:
                return None
            if len(ordered) == 1:
                return ordered[0]
            return statistics.quantiles(ordered, n=100, method="inclusive")[round(100 * q) - 1]

        return {
            "ok": len(ordered),
            "failed": len(self.errors),
            "first_error": self.errors[0] if self.errors else None,
            "p50_ms": ms(quantile(0.50)),
            "p95_ms": ms(quantile(0.95)),
            "max_ms": ms(ordered[-1] if ordered else None),
        }


def call(
    client: Client, calls: Calls, deadline: float, *args: Any, api_name: str, **kwargs: Any
) -> Any:
    """One API call, timed into `calls`; an error or the deadline (time.monotonic()) is
    recorded as a failure instead of raised. Returns the outputs, or None on failure."""
    start = time.monotonic()
    job = None
    try:
        job = client.submit(*args, api_name=api_name, **kwargs)
        result = job.result(timeout=max(0.1, deadline - start))
    except Exception as error:  # an app error, a timeout, a dropped connection: all counted
        if job is not None:
            job.cancel()
        said = str(error).strip() or "no answer before the deadline"
        text = said.splitlines()[0][:200]
        calls.errors.append(f"{api_name}: {type(error).__name__}: {text}")
        return None
    calls.seconds.append(time.monotonic() - start)
    return result


def table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """`Calls.summary()` rows as aligned text, then the first error of each row that had one."""
    head = f"{'what':44} {'ok':>5} {'fail':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}"
    lines = [head]
    for what, row in rows:
        figures = [row["p50_ms"], row["p95_ms"], row["max_ms"]]
        shown = " ".join(f"{'-' if v is None else f'{v:.0f}':>9}" for v in figures)
        lines.append(f"{what:44} {row['ok']:>5} {row['failed']:>5} {shown}")
    lines += [f"  {what}: first error: {row['first_error']}" for what, row in rows if row["failed"]]
    return "\n".join(lines)
