"""Does the app hold up over time? Memory, disk and errors under mixed traffic for N minutes.

Starts `python demo.py` on a free loopback port with a temporary --workdir and its own
Gradio temp folder (GRADIO_TEMP_DIR, where Gradio keeps uploads and output images), then
for --minutes a few visitors (--visitors, each its own gradio_client.Client) loop over
random actions with a short pause between them:

- /classify of a random bundled portrait;
- /playground with random knobs (kernel, stride, padding, edge, dilation, pooling, ...);
- /shapes with a random small layer stack;
- /augment_preview of a small generated dataset uploaded as a zip;
- and, a third of the way in, one /train run (variant simple, 3 epochs) on that zip.

Prints the server's resident memory (VmRSS of demo.py and its children) and the disk used by
the workdir and the Gradio temp folder at the start, every minute and at the end, then the
calls, errors and latencies per endpoint. The last line is one JSON object with every figure.
Calls still running when the time is up get 2 more minutes, then count as failures.

    python bench/soak.py [--minutes 10] [--visitors 3] [--demo-args "--no-train"] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from app_process import (
    ROOT,
    App,
    Calls,
    call,
    disk_mb,
    make_visitors,
    parse_args,
    rss_mb,
    served_app,
    table,
)
from gradio_client import Client, handle_file
from PIL import Image

PORTRAITS = sorted(ROOT.glob("portraits/*/*.png"))
PICTURES = sorted(ROOT.glob("demo_assets/*.png"))
GRIDS = [
    "-1 0 1\n-2 0 2\n-1 0 1",
    "0 1 0\n1 -4 1\n0 1 0",
    "1 2 1\n2 4 2\n1 2 1",
    "0 -1 0\n-1 5 -1\n0 -1 0",
]
ACTIONS = ["/classify"] * 3 + ["/playground"] * 4 + ["/shapes"] * 2 + ["/augment_preview"]
MAX_CALLS_PER_VISITOR = 10_000
GRACE_SECONDS = 120  # for the calls in flight when the time is up
AUGMENT = dict(flip_prob=0.5, rotation=10, crop_low=0.7, grey_prob=0.5)


def dataset_zip(folder: Path) -> Path:
    """Two made-up classes of 10 RGB 48x48 PNGs each: horizontal and vertical stripes."""
    rng = np.random.default_rng(0)
    path = folder / "stripes.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(10):
            period = int(rng.integers(4, 12))
            wave = (np.arange(48) // (period // 2)) % 2 * 180 + rng.integers(0, 60, 48)
            pixels = np.repeat(np.tile(wave[:, None], (1, 48))[..., None], 3, axis=2)
            for name, image in (("horizontal", pixels), ("vertical", pixels.transpose(1, 0, 2))):
                picture = folder / f"{name}_{index}.png"
                Image.fromarray(image.astype(np.uint8)).save(picture)
                archive.write(picture, f"stripes/{name}/{index}.png")
    return path


# -- one visitor's actions ---------------------------------------------------


def act(
    action: str, client: Client, calls: Calls, deadline: float, rng: random.Random, data: Any
) -> None:
    """One call of `action` with random inputs."""
    if action == "/classify":
        call(client, calls, deadline, handle_file(str(rng.choice(PORTRAITS))), api_name=action)
    elif action == "/playground":
        knobs = dict(
            image_path=handle_file(str(rng.choice(PICTURES + PORTRAITS[:4]))),
            grid=rng.choice(GRIDS),
            stride=rng.randint(1, 3),
            padding=rng.randint(0, 2),
            edge=rng.choice(["zero", "valid (crop)", "replicate", "reflect"]),
            dilation=rng.randint(1, 2),
            use_relu=rng.random() < 0.5,
            flip=rng.random() < 0.5,
            colour=rng.choice(["luminance", "per channel"]),
            pool_kind=rng.choice(["none", "max", "avg"]),
            pool_window=rng.randint(2, 3),
            pool_stride=rng.randint(1, 2),
            step_row=rng.randint(0, 60),
            step_col=rng.randint(0, 60),
        )
        call(client, calls, deadline, **knobs, api_name=action)
    elif action == "/shapes":
        rows = [["conv", rng.choice([3, 5]), 1, 1, 1, rng.choice([8, 16])]]
        rows += [["maxpool", 2, 2, 0, 1, rows[0][5]]] * rng.randint(0, 1)
        rows += [["conv", 3, rng.randint(1, 2), 1, 1, 32]] * rng.randint(0, 2)
        headers = ["kind", "kernel", "stride", "padding", "dilation", "out_channels"]
        size = rng.choice([32, 64, 128])
        layers = {"headers": headers, "data": rows}
        call(client, calls, deadline, size, size, rng.choice([1, 3]), layers, api_name=action)
    else:  # /augment_preview of the uploaded zip
        seed = rng.randint(0, 999)
        call(client, calls, deadline, "my .zip", data, **AUGMENT, seed=seed, api_name=action)


def visit(
    client: Client, index: int, end: float, calls: dict[str, Calls], data: Any, seed: int
) -> None:
    """Random actions with a 0-1 s pause between them until `end` (time.monotonic())."""
    rng = random.Random(seed + index)
    for _ in range(MAX_CALLS_PER_VISITOR):
        if time.monotonic() >= end:
            return
        action = rng.choice(ACTIONS)
        act(action, client, calls[action], end + GRACE_SECONDS, rng, data)
        time.sleep(rng.random())


def train_once(client: Client, calls: Calls, start: float, end: float, data: Any) -> str:
    """One training run on the uploaded zip, started at `start`; its status line."""
    time.sleep(max(0.0, start - time.monotonic()))
    outputs = call(client, calls, end + GRACE_SECONDS, "my .zip", data, **AUGMENT,
                   variant="simple", epochs=3, batch_size=8, lr=3e-3, weight_decay=1e-4,
                   dropout=0.25, patience=3, seed=0, api_name="/train")  # fmt: skip
    return calls.errors[-1] if outputs is None else outputs[0]


# -- the report --------------------------------------------------------------


def sample(app: App, started: float, calls: dict[str, Calls]) -> dict[str, Any]:
    """What the server holds now, and the calls so far."""
    return {
        "minute": round((time.monotonic() - started) / 60, 2),
        "rss_mb": rss_mb(app.pid),
        "workdir_mb": disk_mb(app.workdir),
        "gradio_temp_mb": disk_mb(app.gradio_temp),
        "calls": sum(len(c.seconds) + len(c.errors) for c in calls.values()),
        "errors": sum(len(c.errors) for c in calls.values()),
    }


COLUMNS = {"minute": "minute", "rss_mb": "RSS MB", "workdir_mb": "workdir MB",
           "gradio_temp_mb": "Gradio temp MB", "calls": "calls", "errors": "errors"}  # fmt: skip


def show(row: dict[str, Any]) -> None:
    """One line of the table: a sample, or the header when given COLUMNS."""
    print(" ".join(f"{'-' if row[key] is None else row[key]:>14}" for key in COLUMNS), flush=True)


def every_minute(started: float, seconds: float, report: Callable[[], None]) -> None:
    """`report()` at each whole minute after `started` that comes before `seconds` are over."""
    for minute in range(1, math.ceil(seconds / 60)):
        time.sleep(max(0.0, started + 60 * minute - time.monotonic()))
        report()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="how long (fractions: ok)")
    parser.add_argument("--visitors", type=int, default=3, help="concurrent visitors")
    parser.add_argument("--seed", type=int, default=0, help="seed of the visitors' choices")
    args = parse_args(parser)
    if not 0 < args.minutes <= 24 * 60 or not 1 <= args.visitors <= 50:
        parser.error("--minutes must be in (0, 1440] and --visitors in [1, 50]")
    seconds = 60 * args.minutes
    calls = {action: Calls() for action in [*dict.fromkeys(ACTIONS), "/train"]}
    samples: list[dict[str, Any]] = []

    with (
        tempfile.TemporaryDirectory() as folder,
        served_app(None, args.demo_args) as app,
    ):
        print(f"Soaking {app.url} (pid {app.pid}) for {args.minutes} min, {args.visitors} visitors")
        visitors = make_visitors(app.url, args.visitors + 1)
        data = handle_file(str(dataset_zip(Path(folder))))
        show(COLUMNS)

        def report() -> None:
            samples.append(sample(app, started, calls))
            show(samples[-1])

        started = time.monotonic()
        end = started + seconds
        report()
        with ThreadPoolExecutor(args.visitors + 1) as pool:
            training = pool.submit(
                train_once, visitors[0], calls["/train"], started + seconds / 3, end, data
            )
            crowd = [
                pool.submit(visit, client, index, end, calls, data, args.seed)
                for index, client in enumerate(visitors[1:])
            ]
            every_minute(started, seconds, report)
            train_status = training.result()
            for visitor in crowd:
                visitor.result()
        report()

    rows = {action: c.summary() for action, c in calls.items()}
    print()
    print(table(list(rows.items())))
    print(f"\nTraining: {train_status}")
    first, last = samples[0], samples[-1]
    growth = {key: None if first[key] is None else round(last[key] - first[key], 2)
              for key in ("rss_mb", "workdir_mb", "gradio_temp_mb")}  # fmt: skip
    print(f"Growth over the run: {growth}")
    print(json.dumps({"minutes": args.minutes, "visitors": args.visitors, "samples": samples,
                      "growth": growth, "endpoints": rows, "train_status": train_status,
                      "errors": last["errors"]}))  # fmt: skip


if __name__ == "__main__":
    main()
