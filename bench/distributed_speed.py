"""How well Menny's data-parallel training scales on this machine: 2 processes against 1.

    python bench/distributed_speed.py [--batch-size 32] [--steps 30]

Both sides run the detector's compiled training step (menny_core.train.make_step) of the
complex Menny at 64 pixels on random scenes, one BLAS thread per process:
    1 process:  global batch B per step;
    2 processes (`mlx.launch -n 2 --backend ring`, loopback): B / 2 each, gradients averaged.
Prints each side's pictures per second and ONE JSON line {"one_img_s", "two_img_s",
"speedup", "efficiency"}; efficiency = speedup / 2 (1.0: perfect scaling).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def worker(batch_size: int, steps: int) -> None:
    """One process's share: time `steps` steps after 3 warm-up steps; rank 0 prints img/s."""
    import kernels_playground  # noqa: F401  (first: MLX gets the fast BLAS)

    # isort: split
    import mlx.core as mx
    import mlx.optimizers as optim
    import numpy as np

    from menny_core import distributed
    from menny_core.model import MennyCNN
    from menny_core.train import make_step

    world = distributed.world()
    local = distributed.local_batch(batch_size, world)
    mx.random.seed(0)
    model = MennyCNN(5, "complex", detector=True)
    optimizer = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
    step = make_step(model, optimizer, world=world)
    rng = np.random.default_rng(world.rank)
    batch = [
        mx.array(rng.normal(size=(local, 64, 64, 3)).astype(np.float32)),
        mx.array(rng.integers(0, 5, local).astype(np.int32)),
        mx.array(np.ones(local, np.float32)),
        mx.array(rng.uniform(0.2, 0.8, (local, 4)).astype(np.float32)),
        mx.array(np.ones(local, np.float32)),
    ]
    for _ in range(3):
        mx.eval(step(*batch), model.state, optimizer.state)
    start = time.perf_counter()
    for _ in range(steps):
        mx.eval(step(*batch), model.state, optimizer.state)
    seconds = time.perf_counter() - start
    if world.leader:
        print(json.dumps({"img_s": steps * batch_size / seconds}), flush=True)


def measure(ranks: int, batch_size: int, steps: int) -> float:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    me = [
        str(Path(__file__).resolve()),
        "--worker",
        f"--batch-size={batch_size}",
        f"--steps={steps}",
    ]
    if ranks == 1:
        command = [sys.executable, *me]
    else:
        launch = shutil.which("mlx.launch") or str(Path(sys.executable).with_name("mlx.launch"))
        command = [launch, "-n", str(ranks), "--backend", "ring", "--python", sys.executable, *me]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    return json.loads(line)["img_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.batch_size, args.steps)
        return
    # Taken in turns (1, 2, 1, 2), the medians compared: load from others hits both.
    ones, twos = [], []
    for _ in range(2):
        ones.append(measure(1, args.batch_size, args.steps))
        twos.append(measure(2, args.batch_size, args.steps))
    one, two = sorted(ones)[len(ones) // 2], sorted(twos)[len(twos) // 2]
    print(f"1 process : {one:7.1f} img/s (batch {args.batch_size}, 1 BLAS thread)")
    print(f"2 processes: {two:7.1f} img/s (batch {args.batch_size // 2} each, ring on loopback)")
    result = {"one_img_s": one, "two_img_s": two, "speedup": two / one, "efficiency": two / one / 2}
    print(json.dumps({k: round(v, 3) for k, v in result.items()}))


if __name__ == "__main__":
    main()
