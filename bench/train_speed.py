"""Menny's speed on MLX against a PyTorch CPU replica of the same network, in one run.

    python bench/train_speed.py [--variant complex] [--image-size 64] [--batch-size 32]
                                [--rounds 3] [--ops]

Both sides train the same architecture (per-image standardisation, then conv 3x3 ->
[BatchNorm] -> max-pool 2x2 -> ReLU blocks, global average pool, dropout, linear) on the
same random batch with AdamW, and classify one image at a time. PyTorch runs
channels-last (NHWC, as MLX does) or NCHW, whichever is faster here: the peer at its
best. MLX runs Menny as `menny train` does: with its CPU primitives where they were built
(menny_base/fast_ops.py; MENNY_FAST_OPS=0 measures MLX's own ops instead).

Each side is timed in a fresh process of its own, the two taking turns for --rounds
rounds, and each figure is the median over rounds of per-process medians. Why separate
processes: both libraries keep worker threads that spin for a while after their last
parallel job (OpenMP's in PyTorch, OpenBLAS's behind MLX's matrix products); in one
process those spinning threads took one of this machine's two cores from the other side.
--ops adds a per-layer table (forward and backward of each conv and of the pool + ReLU,
both libraries in one process: a diagnosis, not a race).

Prints a table, then ONE JSON line: {"mlx_train_img_s", "torch_train_img_s", "train_ratio",
"mlx_infer_ms", "torch_infer_ms", "infer_ratio"}; a ratio > 1 means MLX is faster.
Needs torch (`pip install torch`, CPU wheel).
"""

from __future__ import annotations

import kernels_playground  # noqa: F401  (first: MLX gets a fast BLAS before it loads)

# isort: split
import argparse
import json
import statistics
import subprocess
import sys

import mlx.core as mx
import mlx.optimizers as optim
from detector_speed import classifier_step  # bench/ is the script's folder
from timing import interleaved

from menny_base import fast_blas, fast_ops
from menny_core.model import IMAGE_SIZE, VARIANTS, MennyCNN, max_pool_2x2

NUM_CLASSES = 4


def timed(run, repeats: int) -> float:
    """Median seconds of `repeats` calls, after two warm-up calls (compilation, caches)."""
    return interleaved({"run": run}, repeats)["run"]


# -- MLX ---------------------------------------------------------------------------


def mlx_train_run(variant: str, size: int, batch: int):
    mx.random.seed(0)
    model = MennyCNN(NUM_CLASSES, variant)
    model.train()
    optimizer = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
    # The classifier's compiled cross-entropy step, as the PyTorch replica's: the detector's
    # step costs the same (bench/detector_speed.py).
    step = classifier_step(model, optimizer)
    images = mx.random.normal((batch, size, size, 3))
    labels = mx.random.randint(0, NUM_CLASSES, (batch,))

    def run():
        loss = step(images, labels)
        mx.eval(loss, model.state, optimizer.state)

    return run


def mlx_infer_run(variant: str, size: int):
    model = MennyCNN(NUM_CLASSES, variant)
    model.eval()
    image = mx.random.normal((1, size, size, 3))
    return lambda: mx.eval(mx.softmax(model(image), axis=-1))


# -- PyTorch replica ---------------------------------------------------------------


def torch_model(variant: str):
    import torch

    class Standardize(torch.nn.Module):
        """model.standardize: each image's channels to mean 0, spread 1 (NCHW here)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mean = x.mean(dim=(2, 3), keepdim=True)
            var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
            return (x - mean) / torch.sqrt(var + 1e-5)

    widths, batch_norm = VARIANTS[variant]
    layers, c_in = [Standardize()], 3
    for c_out in widths:
        layers.append(torch.nn.Conv2d(c_in, c_out, 3, padding=1))
        if batch_norm:
            layers.append(torch.nn.BatchNorm2d(c_out))
        layers += [torch.nn.MaxPool2d(2), torch.nn.ReLU()]  # the order Menny uses
        c_in = c_out
    layers += [
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.25),
        torch.nn.Linear(c_in, NUM_CLASSES),
    ]
    return torch.nn.Sequential(*layers)


def torch_train_run(variant, size, batch, channels_last: bool):
    import torch

    torch.manual_seed(0)
    model = torch_model(variant)
    images = torch.randn(batch, 3, size, size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, NUM_CLASSES, (batch,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def run():
        optimizer.zero_grad()
        loss_fn(model(images), labels).backward()
        optimizer.step()

    return run


def torch_infer_run(variant, size, channels_last: bool):
    import torch

    model = torch_model(variant).eval()
    image = torch.randn(1, 3, size, size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        image = image.contiguous(memory_format=torch.channels_last)

    def run():
        with torch.no_grad():
            torch.softmax(model(image), dim=-1)

    return run


# -- per-layer breakdown -------------------------------------------------------------


def per_op_table(variant: str, size: int, batch: int, repeats: int) -> list[str]:
    """Forward and forward+backward of each conv layer and of the pool + ReLU (in the
    model's order), both libraries, at the shapes the network really has (ms, batch `batch`)."""
    import torch

    widths, _ = VARIANTS[variant]
    rows = [f"{'layer':<26}{'MLX fwd':>9}{'MLX f+b':>9}{'torch fwd':>11}{'torch f+b':>11}"]
    c_in, side = 3, size
    for index, c_out in enumerate(widths, start=1):
        x = mx.random.normal((batch, side, side, c_in))
        w = mx.random.normal((c_out, 3, 3, c_in)) * 0.1
        # The first layer needs no gradient for its input (the images): only for weights.
        argnums = (1,) if index == 1 else (0, 1)
        conv_grad = mx.grad(lambda x, w: fast_ops.conv2d(x, w, 1).sum(), argnums=argnums)
        tx = torch.randn(batch, c_in, side, side).contiguous(memory_format=torch.channels_last)
        tx.requires_grad_(index > 1)
        tw = (torch.randn(c_out, c_in, 3, 3) * 0.1).requires_grad_()

        def torch_both(tx=tx, tw=tw):
            torch.nn.functional.conv2d(tx, tw, padding=1).sum().backward()

        y = mx.random.normal((batch, side, side, c_out))
        pool_grad = mx.grad(lambda y: mx.maximum(max_pool_2x2(y), 0).sum())
        ty = torch.randn(batch, c_out, side, side).contiguous(memory_format=torch.channels_last)
        ty.requires_grad_()

        def torch_pool(ty=ty):
            torch.relu(torch.nn.functional.max_pool2d(ty, 2)).sum().backward()

        ms = [
            1000 * timed(lambda x=x, w=w: mx.eval(fast_ops.conv2d(x, w, 1)), repeats),
            1000 * timed(lambda x=x, w=w, g=conv_grad: mx.eval(g(x, w)), repeats),
            1000
            * timed(lambda tx=tx, tw=tw: torch.nn.functional.conv2d(tx, tw, padding=1), repeats),
            1000 * timed(torch_both, repeats),
        ]
        name = f"conv {c_in}->{c_out} @ {side}x{side}"
        rows.append(f"{name:<26}{ms[0]:>9.1f}{ms[1]:>9.1f}{ms[2]:>11.1f}{ms[3]:>11.1f}")
        pool = [
            1000 * timed(lambda y=y: mx.eval(mx.maximum(max_pool_2x2(y), 0)), repeats),
            1000 * timed(lambda y=y, g=pool_grad: mx.eval(g(y)), repeats),
            1000 * timed(lambda ty=ty: torch.relu(torch.nn.functional.max_pool2d(ty, 2)), repeats),
            1000 * timed(torch_pool, repeats),
        ]
        name = f"pool + relu {c_out} @ {side}x{side}"
        rows.append(f"{name:<26}{pool[0]:>9.1f}{pool[1]:>9.1f}{pool[2]:>11.1f}{pool[3]:>11.1f}")
        c_in, side = c_out, side // 2
    return rows


def measure_side(side: str, v: str, s: int, b: int, n: int) -> dict:
    """One process's medians (seconds) for one side: {"train": {name: s}, "infer": {...}}."""
    if side == "mlx":
        train = interleaved({"mlx": mlx_train_run(v, s, b)}, n)
        infer = interleaved({"mlx": mlx_infer_run(v, s)}, 5 * n)
        return {"train": train, "infer": infer, "about": f"MLX {mx.__version__} on "
                f"{fast_blas.status}; {fast_ops.status}"}  # fmt: skip
    import torch

    layouts = {"channels-last": True, "NCHW": False}
    train = interleaved({k: torch_train_run(v, s, b, cl) for k, cl in layouts.items()}, n)
    infer = interleaved({k: torch_infer_run(v, s, cl) for k, cl in layouts.items()}, 5 * n)
    about = f"torch {torch.__version__} with {torch.get_num_threads()} threads"
    return {"train": train, "infer": infer, "about": about}


def in_turns(args) -> tuple[dict, dict, dict]:
    """Each side in fresh processes, taking turns; medians over rounds."""
    train: dict[str, list[float]] = {}
    infer: dict[str, list[float]] = {}
    about = {}
    for _ in range(args.rounds):
        for side in ("mlx", "torch"):
            command = [sys.executable, __file__, "--side", side, "--variant", args.variant,
                       "--image-size", str(args.image_size), "--batch-size",
                       str(args.batch_size), "--repeats", str(args.repeats)]  # fmt: skip
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            about[side] = result["about"]
            for key, value in result["train"].items():
                train.setdefault(key, []).append(value)
            for key, value in result["infer"].items():
                infer.setdefault(key, []).append(value)
    med = {k: statistics.median(v) for k, v in train.items()}
    med_infer = {k: statistics.median(v) for k, v in infer.items()}
    return med, med_infer, about


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=list(VARIANTS), default="complex")
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="turns of fresh processes")
    parser.add_argument("--ops", action="store_true", help="also time each layer")
    parser.add_argument("--side", choices=("mlx", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    v, s, b, n = args.variant, args.image_size, args.batch_size, args.repeats
    if args.side:  # a child process: one side, one JSON line
        print(json.dumps(measure_side(args.side, v, s, b, n)))
        return

    train, infer, about = in_turns(args)
    mlx_train, mlx_infer = train.pop("mlx"), infer.pop("mlx")
    torch_train, torch_infer = train, infer
    best_train = min(torch_train, key=torch_train.get)
    best_infer = min(torch_infer, key=torch_infer.get)

    print(f"Menny {v}, {s}x{s} images, batch {b}; {about['mlx']};")
    print(f"{about['torch']} (median of {args.rounds} rounds of fresh processes, {n} steps each)")
    print(f"{'':<28}{'train step':>12}{'img/s':>9}{'1-image inference':>20}")
    print(f"{'MLX (compiled step)':<28}{mlx_train * 1000:>9.1f} ms{b / mlx_train:>9.0f}"
          f"{mlx_infer * 1000:>17.2f} ms")  # fmt: skip
    for layout in torch_train:
        print(f"{'torch ' + layout:<28}{torch_train[layout] * 1000:>9.1f} ms"
              f"{b / torch_train[layout]:>9.0f}{torch_infer[layout] * 1000:>17.2f} ms")  # fmt: skip
    if args.ops:
        print()
        print("\n".join(per_op_table(v, s, b, max(3, n // 4))))
    result = {
        "mlx_train_img_s": round(b / mlx_train, 1),
        "torch_train_img_s": round(b / torch_train[best_train], 1),
        "train_ratio": round(torch_train[best_train] / mlx_train, 3),
        "mlx_infer_ms": round(mlx_infer * 1000, 3),
        "torch_infer_ms": round(torch_infer[best_infer] * 1000, 3),
        "infer_ratio": round(torch_infer[best_infer] / mlx_infer, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
