"""Is the app safe for many visitors at once? Latency, failures and memory under load.

Starts `python demo.py` on a free loopback port with a temporary --workdir (or measures the
app at --url), makes one gradio_client.Client per simulated visitor before any timing, then:

- one classify alone: the median of 10 sequential /classify calls of a bundled portrait
  minus the median of a call that computes nothing (/preset_kernel, the peer): the server
  time one photo costs; the ratio classify / no-op is printed too;
- (a) burst: 50 visitors send one /classify each at the same moment;
- (b) steady: 200 /classify calls from 20 visitors (10 each, back to back);
- (c) /playground from one visitor, alone and while a (b)-style classify load runs;
- (d) the (b)-style classify load and the playground visitor while one /train run
  (bundled portraits, variant simple, 3 epochs) goes on, from a visitor of its own. It comes
  last: a finished run may change the model that Classify uses.

For each: calls that answered and failed (with the first error), p50 / p95 / max latency,
calls per second, and the server's resident memory (VmRSS of demo.py and its children)
before, after and at its peak. A phase stops sending at --phase-seconds; calls it could not
send or finish count as failures (the server may still be working through them when the next
phase starts). The last line is one JSON object with every figure.

    python bench/load.py [--quick] [--url http://127.0.0.1:7860/] [--demo-args "--no-train"]
                         [--phase-seconds 900] [--download]

--quick: 8 / 24-at-4 calls and a 1-epoch training, for a smoke run. --download: let the
clients fetch every output image, as a browser would (costs the shared CPU).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app_process import (
    ROOT,
    App,
    Calls,
    call,
    make_visitors,
    parse_args,
    rss_mb,
    served_app,
    table,
)
from gradio_client import Client, handle_file

PORTRAIT = sorted(ROOT.glob("portraits/*/front_*.png"))[0]
STAR = ROOT / "demo_assets" / "siemens_star.png"
KERNELS = ["-1 0 1\n-2 0 2\n-1 0 1", "0 1 0\n1 -4 1\n0 1 0", "1 1 1\n1 1 1\n1 1 1"]


@dataclass
class Sizes:
    """How many calls each phase makes (the full run, or --quick)."""

    burst: int  # (a) visitors, one call each
    steady_visitors: int  # (b) concurrency
    steady_calls: int  # (b) calls in all
    alone: int  # sequential calls for the single-call medians and playground alone
    epochs: int  # (d) training length

    @classmethod
    def pick(cls, quick: bool) -> Sizes:
        return cls(8, 4, 24, 5, 1) if quick else cls(50, 20, 200, 10, 3)


# -- the calls ---------------------------------------------------------------


def classify(client: Client, calls: Calls, deadline: float) -> None:
    call(client, calls, deadline, handle_file(str(PORTRAIT)), api_name="/classify")


def playground(client: Client, calls: Calls, deadline: float, index: int) -> None:
    """A knob change: another kernel and stride each time, max pooling, a step position."""
    call(
        client,
        calls,
        deadline,
        image_path=handle_file(str(STAR)),
        grid=KERNELS[index % len(KERNELS)],
        stride=1 + index % 2,
        pool_kind="max",
        step_row=10,
        step_col=20,
        api_name="/playground",
    )


def train(client: Client, calls: Calls, deadline: float, epochs: int) -> str:
    """One training run on the bundled portraits; its status line (or the error)."""
    augment = dict(flip_prob=0.5, rotation=10, crop_low=0.7, grey_prob=0.5)
    outputs = call(client, calls, deadline, source="bundled portraits", upload=None,
                   **augment, variant="simple", epochs=epochs, batch_size=16, lr=2e-3,
                   weight_decay=1e-4, dropout=0.25, patience=15, seed=0,
                   api_name="/train")  # fmt: skip
    if outputs is None:  # timed out or failed: do not leave it running in a shared app
        call(client, Calls(), time.monotonic() + 30, api_name="/cancel_training")
        return calls.errors[-1]
    return outputs[0]


# -- the phases --------------------------------------------------------------


def median_ms(client: Client, count: int, one_call: Callable[[Calls, float], None]) -> float:
    """Median latency of `count` sequential calls, after two warm-up calls (ms)."""
    calls = Calls()
    deadline = time.monotonic() + 300
    for _ in range(count + 2):
        one_call(calls, deadline)
    if calls.errors:
        raise RuntimeError(f"a call failed while the app was idle: {calls.errors[0]}")
    return 1000 * statistics.median(calls.seconds[2:])


def each_visitor(visitors: list[Client], calls_each: int, deadline: float) -> Calls:
    """Every visitor sends `calls_each` /classify calls back to back, all at once."""
    calls = Calls()

    def visit(client: Client) -> None:
        for sent in range(calls_each):
            if time.monotonic() >= deadline:
                calls.errors += ["/classify: not sent: phase time limit"] * (calls_each - sent)
                return
            classify(client, calls, deadline)

    with ThreadPoolExecutor(len(visitors)) as pool:
        list(pool.map(visit, visitors))
    return calls


def playground_calls(
    client: Client, count: int, deadline: float, keep_going: Callable[[], bool] = lambda: True
) -> Calls:
    """Up to `count` playground calls back to back from one visitor, while `keep_going()`."""
    calls = Calls()
    for index in range(count):
        if not keep_going() or time.monotonic() >= deadline:
            break
        playground(client, calls, deadline, index)
    return calls


def measured(app: App, run: Callable[[], Calls], started: int = 0) -> dict[str, Any]:
    """Run one phase: its call summary, calls/s, and the server's RSS before/after/peak."""
    before, peak, done = rss_mb(app.pid), [rss_mb(app.pid) or 0.0], threading.Event()

    def sample() -> None:  # the peak, every half second
        while not done.wait(0.5):
            peak.append(rss_mb(app.pid) or 0.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    calls = run()
    wall = time.monotonic() - start
    done.set()
    sampler.join()
    row = calls.summary()
    row["calls_per_s"] = round(row["ok"] / wall, 2) if wall > 0 else None
    row["wall_s"] = round(wall, 1)
    row["rss_before_mb"], row["rss_after_mb"] = before, rss_mb(app.pid)
    row["rss_peak_mb"] = max([*peak, row["rss_after_mb"] or 0.0]) if app.pid else None
    return row


def with_playground(
    app: App, load: Callable[[], Calls], client: Client, deadline: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`load` measured while one visitor keeps changing playground knobs (at most 500)."""
    busy = threading.Event()
    busy.set()
    with ThreadPoolExecutor(1) as pool:
        knobs = pool.submit(playground_calls, client, 500, deadline, busy.is_set)
        try:
            row = measured(app, load)
        finally:
            busy.clear()
        return row, knobs.result().summary()


LABELS = {
    "playground_alone": "playground alone",
    "burst": "(a) classify burst",
    "steady": "(b) classify steady",
    "steady_with_playground": "(c) classify steady + playground",
    "playground_under_load": "(c) playground under classify load",
    "during_training": "(d) classify steady during training",
    "playground_during_training": "(d) playground during training",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--url", help="measure the app already running here (loopback)")
    parser.add_argument("--phase-seconds", type=float, default=900, help="time limit per phase")
    parser.add_argument("--download", action="store_true", help="clients fetch output files")
    args = parse_args(parser)
    size = Sizes.pick(args.quick)
    figures: dict[str, Any] = {"quick": args.quick, "demo_args": args.demo_args}

    with (
        tempfile.TemporaryDirectory() as downloads,
        served_app(args.url, args.demo_args) as app,
    ):
        print(f"Measuring {app.url} (pid {app.pid or 'unknown'}); making visitors...")
        visitors = make_visitors(
            app.url, size.burst + 2, Path(downloads) if args.download else None
        )
        solo, trainer, crowd = visitors[0], visitors[1], visitors[2:]
        steady = crowd[: size.steady_visitors]
        per_visitor = size.steady_calls // size.steady_visitors

        def phase_end() -> float:
            return time.monotonic() + args.phase_seconds

        def noop_call(calls: Calls, deadline: float) -> None:
            call(solo, calls, deadline, "Sobel x", api_name="/preset_kernel")

        noop = median_ms(solo, size.alone, noop_call)
        alone = median_ms(solo, size.alone, lambda calls, d: classify(solo, calls, d))
        figures.update(noop_ms=round(noop, 1), classify_alone_ms=round(alone, 1))
        figures["classify_server_ms"] = round(alone - noop, 1)
        figures["classify_noop_ratio"] = round(alone / noop, 2)
        print(f"Server RSS at start: {rss_mb(app.pid)} MB")

        rows: dict[str, dict[str, Any]] = {}
        deadline = phase_end()
        rows["playground_alone"] = measured(
            app, lambda: playground_calls(solo, size.alone, deadline)
        )
        print("(a) burst...")
        deadline = phase_end()
        rows["burst"] = measured(app, lambda: each_visitor(crowd, 1, deadline))
        print("(b) steady...")
        deadline = phase_end()
        rows["steady"] = measured(app, lambda: each_visitor(steady, per_visitor, deadline))
        print("(c) playground under classify load...")
        deadline = phase_end()
        rows["steady_with_playground"], rows["playground_under_load"] = with_playground(
            app, lambda: each_visitor(steady, per_visitor, deadline), solo, deadline
        )
        print(f"(d) the same during a {size.epochs}-epoch training...")
        deadline = phase_end()
        training = Calls()
        with ThreadPoolExecutor(1) as pool:
            status = pool.submit(train, trainer, training, deadline, size.epochs)
            rows["during_training"], rows["playground_during_training"] = with_playground(
                app, lambda: each_visitor(steady, per_visitor, deadline), solo, deadline
            )
            figures["train_status"] = status.result()
        figures["train_s"] = round(training.seconds[0], 1) if training.seconds else None
        figures["rss_end_mb"] = rss_mb(app.pid)

    print(f"\nOne /classify alone: {alone:.0f} ms; a no-op call (/preset_kernel): {noop:.0f} ms;")
    print(f"server time of one classify: {alone - noop:.0f} ms ({alone / noop:.1f}x the no-op)\n")
    print(table([(LABELS[key], row) for key, row in rows.items()]))
    print(f"\n{'what':44} {'calls/s':>8} {'RSS before':>11} {'after':>8} {'peak':>8} (MB)")
    for key, row in rows.items():
        if "wall_s" in row:
            shown = [row["rss_before_mb"], row["rss_after_mb"], row["rss_peak_mb"]]
            rss = " ".join(f"{'-' if v is None else v:>8}" for v in shown)
            print(f"{LABELS[key]:44} {row['calls_per_s']:>8} {'':>3}{rss}")
    took = "-" if figures["train_s"] is None else f"{figures['train_s']:.0f} s"
    print(f"\nTraining ({size.epochs} epochs, simple): {took}: {figures['train_status']}")
    print(json.dumps({**figures, **rows}))


if __name__ == "__main__":
    main()
