"""tools/sweep_benchmarks.py end to end: linear evaluation on exported digits over
2 checkpoints x 2 label fractions, each run in its own launcher process; a second
invocation runs nothing; the tables hold each run's final accuracy, results.png
plots it."""

import csv

import pytest

import seer_plugins  # noqa: F401  first: compat shims before VISSL is imported

# isort: split
from seer_plugins.apps.sweep.command import main as sweep
from seer_plugins.apps.sweep.init_checkpoint import write_init_checkpoint
from seer_plugins.apps.sweep.results import final_test_accuracy
from seer_plugins.data.digits import export_digits
from seer_plugins.data.low_shot_split import read_split_file

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:OPTIMIZER.use_larc")]

PRETRAIN_TINY = [
    "config=test/cpu_test/test_cpu_regnet_simclr",
    "config.MODEL.TRUNK.NAME=seer_regnet",
    "config.MODEL.TRUNK.SEER_REGNET.preset=regnety_tiny",
    "config.MODEL.HEAD.PARAMS=[[seer_swav_head,{dims:[128,64,32],num_clusters:[20]}]]",
]


def test_sweep_two_checkpoints_two_fractions(tmp_path_factory, capsys):
    digits = tmp_path_factory.getbasetemp() / "digits"
    export_digits(digits)
    work = tmp_path_factory.mktemp("sweep")
    checkpoints = []
    for name, seed in (("a", 1), ("b", 2)):
        path = write_init_checkpoint(
            [*PRETRAIN_TINY, f"config.SEED_VALUE={seed}"], work / name / "ckpt.torch"
        )
        checkpoints.append(f"--checkpoint={name}={path}")
    out = work / "out"
    argv = [
        "--config=benchmark/linear/digits",
        *checkpoints,
        "--labels=10%",
        "--labels=20%",
        f"--out={out}",
        "--",
        f"config.DATA.TRAIN.DATA_PATHS=[{digits}/train]",
        f"config.DATA.TEST.DATA_PATHS=[{digits}/val]",
        "config.DATA.TRAIN.DATA_LIMIT=32",
        "config.DATA.TEST.DATA_LIMIT=32",
        "config.OPTIMIZER.num_epochs=1",
        "config.OPTIMIZER.param_schedulers.lr.values=[0.1]",
        "config.OPTIMIZER.param_schedulers.lr.milestones=[]",
        "config.HOOKS.PERF_STATS.MONITOR_PERF_STATS=false",
    ]
    assert sweep(argv) == 0
    first = capsys.readouterr().out
    runs = [out / c / f / "seed0" for c in "ab" for f in ("10percent", "20percent")]
    for i, run in enumerate(runs, start=1):
        assert (
            f"[{i}/4]" in first
            and (run / "model_final_checkpoint_phase0.torch").is_file()
        )
    assert first.count("finished: top-1") == 4
    # Splits generated from the training folder, seeded, class-balanced.
    assert len(read_split_file(out / "splits" / "10percent_seed0.txt")) == 143
    assert len(read_split_file(out / "splits" / "20percent_seed0.txt")) == 287

    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["checkpoint"], r["labels"], r["status"]) for r in rows] == [
        (c, f, "finished") for c in "ab" for f in ("10percent", "20percent")
    ]
    for row, run in zip(rows, runs, strict=True):
        accuracy = final_test_accuracy(run)
        assert row["top1"] == f"{accuracy.top1:.2f}" and row["head"] == accuracy.head
    assert "| a | 10percent | 143 of 1,438 (9.94%) | 0 | finished |" in (
        (out / "results.md").read_text()
    )
    assert (out / "results.png").stat().st_size > 0  # beside the tables

    stamps = {run: (run / "metrics.json").stat().st_mtime_ns for run in runs}
    assert sweep(argv) == 0
    second = capsys.readouterr().out
    assert second.count("skipped (finished") == 4 and "running" not in second
    assert {run: (run / "metrics.json").stat().st_mtime_ns for run in runs} == stamps
