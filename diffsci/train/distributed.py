"""Data-parallel training through ``torchrun``: process-group setup, collectives, and a resumable sharded data order.

Under ``torchrun --nproc-per-node W`` every process runs the same training loop; torch.distributed is
initialised from the environment (gloo on CPU, nccl on CUDA) and the network is wrapped in
``DistributedDataParallel``. Outside torchrun (``WORLD_SIZE`` unset or 1) everything here degrades to
no-ops, so the loop has one code path.

The data order replaces ``DistributedSampler``: epoch e visits a permutation of the dataset drawn
from ``numpy.random.default_rng([seed, e])``, cut into global batches of ``batch_size`` indices; rank
r takes the r-th slice of ``batch_size / world_size`` of each. The order is a pure function of
(seed, epoch, batch), so resuming only needs those two counters, and every rank takes the same
number of steps (an incomplete last global batch is dropped).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ..utils import resolve_device

__all__ = ["DistInfo", "setup", "teardown", "all_mean", "all_gather_objects", "barrier", "ShardedBatches"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: its rank among ``world_size`` processes and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes checkpoints, logs and the progress bar."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str | torch.device = "auto") -> DistInfo:
    """Initialise torch.distributed from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*).

    Without torchrun this returns a single-process DistInfo on ``resolve_device(device)``. Under
    torchrun on CUDA, process r uses ``cuda:LOCAL_RANK`` and the nccl backend; on CPU, gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world <= 1 and not dist.is_initialized():
        return DistInfo(0, 1, 0, dev)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    here = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        here = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, here)


def teardown(info: DistInfo) -> None:
    """Wait for every rank, then destroy the process group if :func:`setup` created it.

    The DistributedDataParallel wrapper of the finished loop can sit in reference cycles (its reducer's hooks) and
    then be freed only at interpreter exit, with gloo objects that need a live interpreter (the c10d shutdown problem
    of pytorch/pytorch#179291): the suspected cause of a rare abort at exit ("terminate called without an active
    exception") of tests/train/test_distributed.py. Collecting first frees it while both are alive.
    """
    if info.distributed:
        gc.collect()
        dist.barrier()
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def all_mean(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean of ``t`` over all ranks (every rank gets the same value); identity on one process."""
    if not info.distributed:
        return t
    t = t.detach().clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / info.world_size


def all_gather_objects(obj, info: DistInfo) -> list:
    """Every rank's ``obj`` (JSON-able), in rank order, on every rank."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


class ShardedBatches:
    """Seeded, resumable, sharded batch order (a replacement for ``DistributedSampler``).

    Args:
        n: dataset size.
        batch_size: the GLOBAL batch size, split evenly over ``world_size`` ranks.
        seed: the permutation of epoch e is ``default_rng([seed, e]).permutation(n)``.

    >>> order = ShardedBatches(5, 2, seed=0)
    >>> order.batches_per_epoch
    2
    >>> sorted(order.batch(0, 0) + order.batch(0, 1)) == sorted(order.permutation(0)[:4].tolist())
    True
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"train.batch_size={batch_size} must be divisible by the number of processes "
                             f"({world_size}): it is the global batch, split evenly over the processes")
        if n < batch_size:
            raise ValueError(f"the training set has {n} samples, fewer than train.batch_size={batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.local_batch = batch_size // world_size
        self.batches_per_epoch = n // batch_size          # drop_last: every rank takes the same steps
        self._cache: tuple[int, np.ndarray] | None = None

    def permutation(self, epoch: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._cache[1]

    def batch(self, epoch: int, b: int) -> list[int]:
        """This rank's dataset indices of batch ``b`` of ``epoch``."""
        start = b * self.batch_size + self.rank * self.local_batch
        return self.permutation(epoch)[start:start + self.local_batch].tolist()

    def iterate(self, epoch: int, b: int) -> Iterator[list[int]]:
        """Batches from position (epoch, b) on, forever (a ``batch_sampler`` for a DataLoader)."""
        while True:
            while b < self.batches_per_epoch:
                yield self.batch(epoch, b)
                b += 1
            epoch, b = epoch + 1, 0

    def advance(self, epoch: int, b: int) -> tuple[int, int]:
        """The position after consuming batch ``b`` of ``epoch``."""
        return (epoch, b + 1) if b + 1 < self.batches_per_epoch else (epoch + 1, 0)
