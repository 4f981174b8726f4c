"""Data-parallel training: the sharded, resumable data order, and 2 CPU processes under torchrun (gloo)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from diffsci.train import read_checkpoint
from diffsci.train.distributed import ShardedBatches


def test_shards_partition_each_global_batch():
    n, B, W = 23, 6, 3
    ranks = [ShardedBatches(n, B, seed=5, rank=r, world_size=W) for r in range(W)]
    assert ranks[0].batches_per_epoch == 3 and ranks[0].local_batch == 2
    for epoch in range(3):
        perm = np.random.default_rng([5, epoch]).permutation(n)
        seen = []
        for b in range(3):
            parts = [o.batch(epoch, b) for o in ranks]
            assert all(len(p) == 2 for p in parts)
            assert sum(parts, []) == perm[b * B:(b + 1) * B].tolist()      # rank r takes the r-th slice
            seen += sum(parts, [])
        assert len(set(seen)) == 18                                          # no repeats; the tail is dropped
    assert ranks[0].permutation(0).tolist() != ranks[0].permutation(1).tolist()


def test_order_resumes_from_any_position():
    o = ShardedBatches(10, 4, seed=0)
    it = o.iterate(0, 0)
    straight = [next(it) for _ in range(7)]
    pos = (0, 0)
    for _ in range(3):
        pos = o.advance(*pos)
    it2 = o.iterate(*pos)
    assert straight[3:] == [next(it2) for _ in range(4)]
    assert pos == (1, 1)                                                     # 2 batches per epoch


def test_bad_batch_sizes():
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        ShardedBatches(10, 5, seed=0, world_size=2)
    with pytest.raises(ValueError, match="fewer than train.batch_size"):
        ShardedBatches(3, 4, seed=0)


@pytest.mark.slow
def test_two_gloo_processes_stay_identical(tmp_path, tinymod):
    """torchrun --nproc-per-node 2 on CPU: after 6 DDP steps both replicas hold identical weights, which
    moved away from the initialisation; rank 0 alone wrote the checkpoint, holding both ranks' RNG states."""
    worker = Path(__file__).with_name("_tiny.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(worker), str(tmp_path)], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    w0, w1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    init = tinymod.TinyNet(num_classes=2).state_dict()
    assert not torch.equal(init["inp.weight"], w0["inp.weight"])
    for r in (0, 1):
        assert (tmp_path / f"rank{r}.txt").read_text().split() == ["6", "False"]    # 6 steps; group torn down
    ck = read_checkpoint(tmp_path / "run")
    assert ck.state["step"] == 6 and ck.state["world_size"] == 2
    assert all(torch.equal(v, w0[k]) for k, v in ck.prefixed("model.safetensors", "model.").items())
    assert len(ck.state["rng"]) == 2 and ck.state["rng"][0]["generator"] != ck.state["rng"][1]["generator"]
    steps = [json.loads(ln)["step"] for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(ln)]
    assert steps == [2, 4, 6]                                                # logged once, by rank 0
