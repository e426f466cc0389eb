"""One rank of the distributed test (tests/test_distributed.py), started by `mlx.launch`:

    mlx.launch -n 2 --backend ring --python PYTHON tests/distributed_worker.py DATA OUT EPOCHS

Trains Menny on DATA with a global batch of 8 and writes OUT/rank<r>.json: a digest of
every weight (BatchNorm's running statistics included), the epochs' figures, and the
test accuracy. Run without mlx.launch it is the single-process run of the same batch.
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from mlx.utils import tree_flatten

from menny_core import distributed
from menny_core.stream import Augment
from menny_core.train import TrainConfig, train


def main() -> None:
    data, out, epochs = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    world = distributed.world()
    config = TrainConfig(
        variant="complex", image_size=32, epochs=epochs, batch_size=8, lr=3e-3,
        augment=Augment.off(), strangers=False, negatives=False, patience=0, seed=0,
    )  # fmt: skip
    result = train(data, config, log=None, world=world)
    digest = hashlib.sha256()
    for name, value in sorted(tree_flatten(result.model.parameters())):
        digest.update(name.encode() + np.asarray(value).tobytes())
    report = {
        "rank": world.rank,
        "size": world.size,
        "digest": digest.hexdigest(),
        "train_loss": [s.train_loss for s in result.history],
        "val_loss": [s.val_loss for s in result.history],
        "test_accuracy": result.test_metrics.accuracy,
    }
    (out / f"rank{world.rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
