"""Data-parallel training on MLX's own distributed engine (`mx.distributed`).

Started by `mlx.launch`, every process ("rank") runs the same `menny train` command:

    mlx.launch -n 2 --backend ring menny_core/cli.py train --data portraits --out m.safetensors
    mlx.launch --hostfile hosts.json --backend ring menny_core/cli.py train ...

Each rank builds the same model from the same seed, reads its own share of every epoch's
pictures (`shard`), and computes gradients on it; the gradients are averaged over the ranks
before every update (`average_gradients`, inside the compiled step), so every rank applies
the same update and the weights stay identical. A global batch of B pictures is B / n per
rank: the same number of pictures per update as one process with batch B, which is what
makes the two runs comparable.

Two things are not gradients and need their own reduction: BatchNorm's running statistics
(each rank measures them on its own pictures; `average_running_stats` after every epoch
makes them one model again), and the epoch's training loss and accuracy (`sum_over_ranks`).
Validation, thresholds and the test report then come out the same on every rank, so every
rank takes the same early-stopping decision; only rank 0 prints and writes files.

Without `mlx.launch` the world is one rank and every function here changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map, tree_unflatten

from menny_base.errors import MennyError


@dataclass(frozen=True)
class World:
    """The processes of one run: this one's rank (0..size-1) and how many there are."""

    rank: int = 0
    size: int = 1
    group: mx.distributed.Group | None = None

    @property
    def leader(self) -> bool:
        """Rank 0: the one that prints and writes files."""
        return self.rank == 0


def world() -> World:
    """The run's World: every rank under `mlx.launch`, else this process alone."""
    if not mx.distributed.is_available():
        return World()
    group = mx.distributed.init()  # a group of one when not launched
    return World(group.rank(), group.size(), group if group.size() > 1 else None)


def local_batch(batch_size: int, world: World) -> int:
    """Pictures per rank in one update when `batch_size` is the global batch."""
    if batch_size % world.size:
        raise MennyError(
            f"the batch size ({batch_size}) must be a multiple of the number of processes "
            f"({world.size}), so that every process takes the same share of each update"
        )
    return batch_size // world.size


def shard(items: list, world: World) -> list:
    """This rank's share of `items` (every rank gets the same count; a remainder of fewer
    than `size` items is left out, so no rank waits for a batch the others do not have)."""
    usable = len(items) - len(items) % world.size
    return items[world.rank : usable : world.size]


def average_gradients(grads, world: World):
    """The gradients averaged over the ranks (unchanged for one rank). MLX packs the small
    arrays into few messages (nn.average_gradients)."""
    if world.size == 1:
        return grads
    return nn.average_gradients(grads, group=world.group)


def sum_over_ranks(values: list[float], world: World) -> list[float]:
    """Each number summed over the ranks (e.g. loss sums and picture counts)."""
    if world.size == 1:
        return values
    total = mx.distributed.all_sum(mx.array(values, dtype=mx.float32), group=world.group)
    return [float(v) for v in total.tolist()]


def average_running_stats(model: nn.Module, world: World) -> None:
    """Average BatchNorm's running mean and variance over the ranks, in place."""
    if world.size == 1:
        return
    stats = [
        (name, value)
        for name, value in tree_flatten(model.parameters())
        if name.endswith(("running_mean", "running_var"))
    ]
    if not stats:
        return
    averaged = tree_map(
        lambda v: mx.distributed.all_sum(v, group=world.group) / world.size, dict(stats)
    )
    model.update(tree_unflatten(list(averaged.items())))
    mx.eval(model.parameters())
