"""Training on tar shards through the launcher: SIGKILL mid-epoch and resumed, it
gives the uninterrupted run's losses bit for bit, with 2 processes x 2 data loader
workers on 3 uneven shards (fewer shards than the 4 rank-workers); resumed on one
process instead, it goes on with a warning, as the folder sources do."""

import math
import re
import shutil
import sys

from resume_runs import (
    CHECKPOINT_EVERY,
    NUM_ITERATIONS,
    PROBE,
    finish,
    losses,
    probe_environment,
    resume_overrides,
    start,
)
from shard_data import write_shards

from seer_plugins.data.shard_lists import expand_shards, write_index
from seer_plugins.data.shard_scan import build_index

KILL_AT = 10
# 96 samples: 48 per process, 6 iterations of 8 an epoch, as the folder runs
SIZES = [40, 30, 26]
# what the synthetic runs set that shards replace (and DATA_LIMIT, refused on shards)
REPLACED = ("DATA_LIMIT", "RANDOM_SYNTHETIC_IMAGES", "NUM_DATALOADER_WORKERS")


def _overrides(folder, shards) -> list[str]:
    kept = [o for o in resume_overrides(folder, 2) if not any(r in o for r in REPLACED)]
    return [
        *kept,
        f"config.DATA.TRAIN.DATA_PATHS=[{shards}]",
        "config.DATA.NUM_DATALOADER_WORKERS=2",
        "config.DATA.TRAIN.SEER_SHARDS.STREAMS_PER_RANK=2",
        "config.DATA.TRAIN.SEER_SHARDS.SHUFFLE_BUFFER=10",
    ]


def _run(folder, shards, processes=2, **variables):
    overrides = [
        o if "NUM_PROC_PER_NODE" not in o else f"{o.split('=')[0]}={processes}"
        for o in _overrides(folder, shards)
    ]
    command = [sys.executable, PROBE, *overrides]
    [(rc, out)] = finish(
        [start(command, folder.parent, probe_environment(**variables))]
    )
    return rc, out


def test_shards_resume_exactly_with_two_processes_of_two_workers(tmp_path):
    shards = tmp_path / "shards"
    write_shards(shards, SIZES)
    index, _ = build_index(
        expand_shards(str(shards)), str(shards / "shards_index.json"), workers=1
    )
    write_index(index, str(shards / "shards_index.json"))

    whole = tmp_path / "whole"
    rc, out = _run(whole, shards)
    assert rc == 0, out[-3000:]
    assert "reading them with ['seer_shards']" in out

    killed = tmp_path / "killed"
    rc, out = _run(killed, shards, SEER_TEST_KILL_AT_ITERATION=KILL_AT)
    assert rc != 0 and ("SIGKILL" in out or rc in (-9, 137)), out[-3000:]
    one = tmp_path / "one_process"
    shutil.copytree(killed, one)
    rc, out = _run(killed, shards)
    assert rc == 0, out[-3000:]
    checkpoint = KILL_AT - KILL_AT % CHECKPOINT_EVERY
    assert re.search(rf"Resume from file: .*model_iteration{checkpoint}\.torch", out)
    for rank in range(2):
        expected, order = losses(whole, rank)
        assert order == list(range(NUM_ITERATIONS))
        got, order = losses(killed, rank)
        assert order == [*range(KILL_AT), *range(checkpoint, NUM_ITERATIONS)]
        resumed = {i: v for i, v in got.items() if i >= checkpoint}
        assert resumed == {i: expected[i] for i in resumed}, rank

    # The same checkpoint resumed on one process: the run folder and the task say
    # so, and the epoch goes on from the same fraction of it. Iteration 8 is 2 of
    # epoch 1's 6 batches at 2 processes; at 1 process the epoch has 12 batches, so
    # it goes on from batch 4: 8 more, then the run's end.
    rc, out = _run(one, shards, processes=1)
    assert rc == 0, out[-3000:]
    assert re.search(r"resuming .* at world size 1 \(it ran at 2\)", out)
    assert "written by 2 processes, resumed on 1" in out
    assert "'num_replicas': 1, 'rank': 0, 'epoch': 1, 'num_samples': 96" in out
    assert "'start_iter': 4" in out
    got, order = losses(one, 0)
    assert order == [*range(KILL_AT), *range(checkpoint, checkpoint + 8)]
    assert all(math.isfinite(float(v)) for v in got.values())
    assert (one / "model_final_checkpoint_phase1.torch").exists()
