"""How fast does the app answer? The playground handler, its HTTP round trip, and start-up.

Measured in one run, as medians after a warm-up:

- core calls: what one knob change needs from the cores, called directly (apply_kernel
  3x3 with zero padding 1 + ReLU + max pool 2x2 + render_feature_map, twice, + formulas)
  on a 512x512 RGB image: the peer the handler is compared with;
- handler: `menny_app.playground.playground`, the same change through the app's own
  function (kernel parsed
  from text, the cached image, conv + pool + render, the arithmetic, one step-by-step and
  the Learn text); the ratio handler / core calls is the adapter's overhead;
- round trip: the same call through gradio_client to the app on loopback (upload of the
  image, queue, PNG encoding of the maps, download), next to a call that computes nothing
  (/preset_kernel): the floor set by Gradio's queue and client;
- start: `python demo.py` as a subprocess until its page answers HTTP 200.

The last line is one JSON object with every number (milliseconds, start in seconds).

    python bench/app_speed.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

import kernels_playground  # noqa: F401  (fast BLAS for MLX before mlx.core loads)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import demo  # noqa: E402  (after the path is set)
from kernels_playground import arithmetic  # noqa: E402
from kernels_playground.convolve import apply_kernel, relu, warm_up  # noqa: E402
from kernels_playground.kernels import PRESETS, parse_kernel  # noqa: E402
from kernels_playground.pooling import pool  # noqa: E402
from kernels_playground.render import render_feature_map  # noqa: E402
from menny_app.inputs import load_image  # noqa: E402
from menny_app.playground import playground, preset_kernel  # noqa: E402

KERNELS = ["Sobel x", "Sobel y", "Laplacian (4-neighbour)", "sharpen"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def median_ms(function, repeats: int) -> float:
    times = []
    for index in range(repeats):
        start = time.perf_counter()
        function(index)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def test_image(folder: Path) -> Path:
    """The Siemens star from demo_assets scaled to 512x512: fine detail everywhere."""
    path = folder / "star512.png"
    star = Image.open(ROOT / "demo_assets" / "siemens_star.png").convert("RGB")
    star.resize((512, 512), Image.Resampling.LANCZOS).save(path)
    return path


def knobs(path: Path, index: int) -> tuple:
    grid = preset_kernel(KERNELS[index % len(KERNELS)])[0]
    return (str(path), grid, 1, 1, "zero", 1, True, False, "luminance", "max", 2, 2, 100, 100)


def core_calls(image: np.ndarray, index: int) -> None:
    kernel = PRESETS[KERNELS[index % len(KERNELS)]]
    feature = relu(apply_kernel(image, kernel, 1, 1, "zero"))
    render_feature_map(feature)
    render_feature_map(pool(feature, "max", 2, 2))
    arithmetic.conv_output_formula(512, 3, 1, 1)
    arithmetic.pool_output_formula(512, 2, 2)


def start_seconds(workdir: Path) -> float:
    """Seconds from spawning `python demo.py` until its page answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, str(ROOT / "demo.py"), "--port", str(port)]
    start = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--workdir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        while time.perf_counter() - start < 60:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("demo.py did not answer within 60 s")
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    repeats = parser.parse_args().repeats
    from gradio_client import Client, handle_file

    warm_up()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = test_image(folder)
        image = load_image(str(path))[0]
        parse_kernel(preset_kernel("Sobel x")[0])
        for index in range(3):  # warm-up: MLX kernels, the image cache
            core_calls(image, index)
            playground(*knobs(path, index))
        core = median_ms(lambda i: core_calls(image, i), repeats)
        handler = median_ms(lambda i: playground(*knobs(path, i)), repeats)

        args = demo.parse_args(["--port", str(free_port()), "--workdir", str(folder)])
        app = demo.build_app(demo.Session(args.workdir, None, allow_training=False))
        url = demo.launch(app, args, auth=None)
        client = Client(url, verbose=False)
        upload = handle_file(str(path))

        def round_trip(index: int) -> None:
            values = knobs(path, index)
            client.predict(upload, *values[1:], api_name="/playground")

        round_trip(0)
        trip = median_ms(round_trip, max(5, repeats // 2))
        # The floor: a round trip that computes nothing (queue, SSE, JSON), same client.
        empty = median_ms(
            lambda i: client.predict(KERNELS[i % 4], api_name="/preset_kernel"),
            max(5, repeats // 2),
        )
        app.close()
        start = start_seconds(folder)

    rows = [
        ("core calls (peer)", f"{core:.1f} ms", "1.00"),
        ("playground handler", f"{handler:.1f} ms", f"{handler / core:.2f}"),
        ("gradio_client round trip", f"{trip:.1f} ms", f"{trip / core:.2f}"),
        ("  of which a no-op call (/preset_kernel)", f"{empty:.1f} ms", f"{empty / core:.2f}"),
        ("python demo.py until HTTP 200", f"{start:.1f} s", ""),
    ]
    print(f"Playground update on a 512x512 image (median of {repeats}); ratio vs core calls")
    print(f"{'what':42} {'time':>10} {'ratio':>6}")
    for what, took, ratio in rows:
        print(f"{what:42} {took:>10} {ratio:>6}")
    print(
        json.dumps(
            {
                "core_ms": round(core, 2),
                "handler_ms": round(handler, 2),
                "handler_ratio": round(handler / core, 3),
                "round_trip_ms": round(trip, 2),
                "noop_round_trip_ms": round(empty, 2),
                "start_s": round(start, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
