"""Data-parallel training with MLX's own engine: `mlx.launch` starts 2 processes on
loopback (ring backend); they must end with the very same weights, and learn the task as
well as one process with the same global batch does."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import write_squares

from menny_base.errors import MennyError
from menny_core.distributed import World, local_batch, shard

WORKER = Path(__file__).with_name("distributed_worker.py")
LAUNCH = shutil.which("mlx.launch") or str(Path(sys.executable).with_name("mlx.launch"))


def run_worker(data: Path, out: Path, ranks: int, epochs: int = 8) -> list[dict]:
    out.mkdir()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # 2 processes on 2 cores
    if ranks == 1:
        command = [sys.executable, str(WORKER), str(data), str(out), str(epochs)]
    else:
        command = [
            LAUNCH, "-n", str(ranks), "--backend", "ring", "--python", sys.executable,
            str(WORKER), str(data), str(out), str(epochs),
        ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(ranks)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if not Path(LAUNCH).exists():
        pytest.skip("mlx.launch is not installed next to this Python")
    root = tmp_path_factory.mktemp("distributed")
    data = write_squares(root / "data", per_class=16)
    return run_worker(data, root / "two", 2), run_worker(data, root / "one", 1)


def test_both_ranks_end_with_the_same_weights(runs):
    two, _ = runs
    assert [r["rank"] for r in two] == [0, 1] and {r["size"] for r in two} == {2}
    assert two[0]["digest"] == two[1]["digest"]
    # The figures are the whole world's: the same on both ranks.
    assert two[0]["train_loss"] == two[1]["train_loss"]
    assert two[0]["val_loss"] == two[1]["val_loss"]


def test_two_ranks_learn_as_one_process_with_the_same_global_batch(runs):
    two, (one,) = runs
    assert one["size"] == 1
    # Both learn the easy task; the curves differ only by the scenes each rank drew.
    assert two[0]["test_accuracy"] >= 0.75 and one["test_accuracy"] >= 0.75
    assert two[0]["train_loss"][-1] < two[0]["train_loss"][0] / 2
    assert abs(two[0]["val_loss"][-1] - one["val_loss"][-1]) < 0.5


def test_each_rank_takes_an_equal_share():
    items = list(range(11))
    shares = [shard(items, World(rank, 3)) for rank in range(3)]
    assert shares == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]  # 9 and 10 left out: 11 % 3
    assert local_batch(16, World(0, 2)) == 8
    with pytest.raises(MennyError, match="multiple of the number of processes"):
        local_batch(15, World(0, 2))
