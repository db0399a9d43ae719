"""Training on tar shards through the launcher: SIGKILL mid-epoch and resumed, it
gives the uninterrupted run's losses bit for bit, with 2 processes x 2 data loader
workers on 3 uneven shards (fewer shards than the 4 rank-workers)."""

import re
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


def _run(folder, shards, **variables):
    command = [sys.executable, PROBE, *_overrides(folder, shards)]
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
