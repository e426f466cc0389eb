"""How much memory does one big upload cost: `load_rgb(path)` against `load_rgb(path, max_side)`?

Pillow allocates pixels in C, where tracemalloc cannot see them, so every case runs in a
fresh subprocess that reports resource.getrusage(...).ru_maxrss, the process's peak resident
memory, right after its imports and again after the load: the difference is what loading
the image cost at its worst moment. (Linux carries a parent's peak into a child across
fork + exec, so the test images are drawn in a subprocess too and this parent stays small.)
The images are 7300x5466 = 39.9 megapixels, just under images.MAX_PIXELS: a palette PNG
(tens of KB on disk), an RGB PNG and an RGB JPEG.

    python bench/image_memory.py               # max_side 512, as the playground shows images
    python bench/image_memory.py --side 256

Prints a table and, last, one JSON line {case: {"full_mb", "shrunk_mb", "ratio"}}:
full_mb is `fit_within(load_rgb(path), side)` (decode everything, then shrink), shrunk_mb
`load_rgb(path, max_side=side)`; ratio > 1 means max_side needs that many times less.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = (7300, 5466)  # (width, height): 39,901,800 pixels
ROOT = Path(__file__).resolve().parents[1]


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def child(path: str, how: str, side: int) -> None:
    """One measurement: imports, then one load; prints {"before_mb", "after_mb", "shape"}.

    how: "fit" = fit_within(load_rgb(path), side), what callers did before max_side existed;
    "max_side" = load_rgb(path, max_side=side).
    """
    sys.path.insert(0, str(ROOT))
    from menny_base.images import fit_within, load_rgb

    before = peak_mb()
    rgb = fit_within(load_rgb(path), side) if how == "fit" else load_rgb(path, max_side=side)
    print(json.dumps({"before_mb": before, "after_mb": peak_mb(), "shape": list(rgb.shape)}))


def make_images(folder: Path) -> dict[str, Path]:
    """The three 39.9 MP test files: shapes on a background, as a drawing or a scan has."""
    palette = Image.new("P", SIZE, 0)
    palette.putpalette([0, 0, 0, 230, 60, 40, 40, 90, 220, 250, 250, 250] + [0] * 756)
    draw = ImageDraw.Draw(palette)
    draw.ellipse((1000, 800, 5000, 4800), fill=1)
    draw.rectangle((4200, 300, 7000, 2500), fill=2)
    draw.line((0, 5400, 7299, 100), fill=3, width=40)
    paths = {"palette PNG": folder / "palette.png"}
    palette.save(paths["palette PNG"], optimize=True)
    # RGB: the same drawing over smooth gradients (what photos are mostly made of).
    x = np.linspace(0, 1, SIZE[0], dtype=np.float32)[None, :]
    y = np.linspace(0, 1, SIZE[1], dtype=np.float32)[:, None]
    drawing = np.asarray(palette.convert("RGB"), dtype=np.float32)
    gradient = np.stack(np.broadcast_arrays(200 * x, 160 * y, 100 * (x + y) / 2), axis=2)
    rgb = Image.fromarray((0.6 * drawing + 0.4 * gradient).astype(np.uint8), "RGB")
    del drawing, gradient
    paths["RGB PNG"], paths["RGB JPEG"] = folder / "rgb.png", folder / "rgb.jpg"
    rgb.save(paths["RGB PNG"], compress_level=1)
    rgb.save(paths["RGB JPEG"], quality=90)
    return paths


def measure(path: Path, how: str, side: int) -> dict:
    """Run `child` in a fresh interpreter: one process per case, so peaks never mix."""
    script = [sys.executable, __file__, "--child", str(path), how, str(side)]
    output = subprocess.run(script, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=512, help="max_side of the shrunk load")
    parser.add_argument("--child", nargs=3, metavar=("PATH", "HOW", "SIDE"), help=argparse.SUPPRESS)
    parser.add_argument("--make", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    if args.make:
        print(json.dumps({case: str(path) for case, path in make_images(Path(args.make)).items()}))
        return
    summary = {}
    print(f"{SIZE[0]}x{SIZE[1]} = {SIZE[0] * SIZE[1] / 1e6:.1f} MP; MB = extra peak RSS")
    print(f"fit = fit_within(load_rgb(path), {args.side}); max_side = load_rgb(path, max_side=...)")
    print(f"{'image':<12} {'file MB':>8} {'fit MB':>8} {'max_side MB':>12} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as folder:
        made = subprocess.run(
            [sys.executable, __file__, "--make", folder], check=True, capture_output=True
        )
        for case, name in json.loads(made.stdout).items():
            path = Path(name)
            full, shrunk = measure(path, "fit", args.side), measure(path, "max_side", args.side)
            full_mb = full["after_mb"] - full["before_mb"]
            shrunk_mb = shrunk["after_mb"] - shrunk["before_mb"]
            ratio = full_mb / max(shrunk_mb, 1.0)  # below 1 MB, RSS noise dominates
            file_mb = path.stat().st_size / 2**20
            print(f"{case:<12} {file_mb:>8.3f} {full_mb:>8.0f} {shrunk_mb:>12.0f} {ratio:>5.1f}x")
            summary[case] = {
                "full_mb": round(full_mb, 1),
                "shrunk_mb": round(shrunk_mb, 1),
                "ratio": round(ratio, 1),
                "shapes": [full["shape"], shrunk["shape"]],
            }
    print(f"(baseline after imports: {full['before_mb']:.0f} MB)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
