"""Sweep bookkeeping without training: label specs, the grid, run states read from
VISSL's files, best-head results, tables, and the SLURM submission path."""

import csv
import json
from types import SimpleNamespace

import pytest

import seer_plugins  # noqa: F401  first: compat shims before VISSL is imported

# isort: split
from seer_plugins.apps.sweep import command as sweep_lib
from seer_plugins.apps.sweep.results import (
    ResultRow,
    final_test_accuracy,
    write_results,
)
from seer_plugins.apps.sweep.runs import (
    Labels,
    parse_checkpoint,
    parse_labels,
    plan_runs,
    run_status,
)


def test_label_specs():
    assert parse_labels("1pct=/s/1percent.txt") == Labels("1pct", "/s/1percent.txt")
    assert parse_labels("1%") == Labels("1percent", fraction=0.01)
    assert parse_labels("0.1") == Labels("10percent", fraction=0.1)
    assert parse_labels("13perclass") == Labels("13perclass", per_class=13)
    assert parse_labels("all") == Labels("all")
    with pytest.raises(ValueError, match="NAME=PATH"):
        parse_labels("lots")
    with pytest.raises(ValueError, match="100%"):
        parse_labels("150%")


def test_checkpoint_names_and_grid(tmp_path):
    assert parse_checkpoint("a=/x/y.torch") == ("a", "/x/y.torch")
    assert parse_checkpoint("/runs/seer_tiny/model_final.torch")[0] == "seer_tiny"
    runs = plan_runs(
        tmp_path,
        [("a", "/a"), ("b", "/b")],
        [Labels("1percent"), Labels("all")],
        [0, 1],
    )
    assert len(runs) == 8
    assert runs[0].run_dir == str(tmp_path / "a" / "1percent" / "seed0")
    with pytest.raises(ValueError, match="unique"):
        plan_runs(tmp_path, [("a", "/a"), ("a", "/b")], [Labels("all")], [0])


def _metrics(run_dir, *lines):
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "metrics.json").open("a") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")


def _test_line(phase, top1, top5):
    return {
        "iteration": 10,
        "phase_idx": 2 * phase + 1,
        "train_phase_idx": phase,
        "test_accuracy_list_meter": {"top_1": top1, "top_5": top5},
    }


def test_run_states_follow_vissl_files(tmp_path):
    run = tmp_path / "run"
    assert run_status(run) == "new"
    _metrics(run, _test_line(0, {"0": 10.0}, {"0": 50.0}))
    (run / "model_phase0.torch").write_bytes(b"")
    assert run_status(run) == "partial"  # resumable: VISSL's AUTO_RESUME
    (run / "model_final_checkpoint_phase1.torch").write_bytes(b"")
    assert run_status(run) == "no final test"  # died while testing the last phase
    _metrics(run, _test_line(1, {"0": 12.5}, {"0": 60.0}))
    assert run_status(run) == "finished"
    accuracy = final_test_accuracy(run)
    assert (accuracy.top1, accuracy.top5, accuracy.head) == (12.5, 60.0, "0")


def test_best_head_and_duplicate_head_names(tmp_path):
    top1 = {"res4": 30.0, "res5": 41.0, "avgpool": [40.0, 42.5]}
    top5 = {"res4": 60.0, "res5": 70.0, "avgpool": [71.0, 72.0]}
    _metrics(tmp_path, _test_line(0, top1, top5))
    accuracy = final_test_accuracy(tmp_path)
    assert (accuracy.head, accuracy.top1, accuracy.top5) == ("avgpool#1", 42.5, 72.0)
    assert set(accuracy.heads) == {"res4", "res5", "avgpool", "avgpool#1"}


def test_tables(tmp_path):
    for seed, value in ((0, 40.0), (1, 44.0)):
        _metrics(tmp_path / f"s{seed}", _test_line(0, {"0": value}, {"0": 80.0}))
    labelled = "3 of 48 (6.25%)"  # a "1%" of a small folder says what it is
    rows = [
        ResultRow(
            "a", "1percent", s, "finished", str(tmp_path / f"s{s}"), None, labelled
        )
        for s in (0, 1)
    ]
    rows = [
        ResultRow(**{**r.__dict__, "accuracy": final_test_accuracy(r.run_dir)})
        for r in rows
    ] + [ResultRow("b", "1percent", 0, "failed", str(tmp_path / "b"))]
    md, csv_path = write_results(rows, tmp_path, "benchmark/x")
    text = md.read_text()
    assert f"| a | 1percent | {labelled} | 0 | finished | 40.00 | 80.00 | 0 |" in text
    assert f"| a | 1percent | {labelled} | 2 | 42.00 ± 2.83 | 80.00 ± 0.00 |" in text
    table = list(csv.DictReader(csv_path.open()))
    assert [(r["checkpoint"], r["status"], r["top1"]) for r in table] == [
        ("a", "finished", "40.00"),
        ("a", "finished", "44.00"),
        ("b", "failed", ""),
    ]


def test_slurm_path_submits_each_pending_run_once(tmp_path, monkeypatch, capsys):
    """--slurm: one submitit job per run with USE_SLURM, our launcher's job; a second
    sweep does not submit again unless --resubmit."""
    from seer_plugins.apps import launcher

    submitted = []

    def fake_launch_on_slurm(config, engine_name, cluster=None):
        submitted.append(config)
        return SimpleNamespace(job_id=f"job{len(submitted)}")

    monkeypatch.setattr(launcher, "launch_on_slurm", fake_launch_on_slurm)
    checkpoint = tmp_path / "a.torch"
    checkpoint.write_bytes(b"")
    for folder in ("train", "val"):
        # Digits' ten class subfolders: NUM_CLASSES is counted from the training
        # folder, and the top-5 meter needs five classes or more.
        for digit in range(10):
            (tmp_path / folder / str(digit)).mkdir(parents=True)
    argv = [
        "--config=benchmark/linear/digits",
        f"--checkpoint=a={checkpoint}",
        "--seeds",
        "0",
        "1",
        f"--out={tmp_path / 'sweep'}",
        "--slurm",
        "--",
        f"config.DATA.TRAIN.DATA_PATHS=[{tmp_path / 'train'}]",
        f"config.DATA.TEST.DATA_PATHS=[{tmp_path / 'val'}]",
    ]
    assert sweep_lib.main(argv) == 0
    assert len(submitted) == 2
    config = submitted[1]
    assert config.SLURM.USE_SLURM and config.SEED_VALUE == 1
    assert config.MODEL.WEIGHTS_INIT.PARAMS_FILE == str(checkpoint)
    assert config.CHECKPOINT.DIR == str(tmp_path / "sweep" / "a" / "all" / "seed1")
    assert "submitted as job job2" in capsys.readouterr().out
    assert sweep_lib.main(argv) == 0 and len(submitted) == 2
    assert "skipped (submitted)" in capsys.readouterr().out
    assert sweep_lib.main([*argv[:-3], "--resubmit", *argv[-3:]]) == 0
    assert len(submitted) == 4


def test_missing_inputs_fail_before_any_run(tmp_path, capsys):
    rc = sweep_lib.main(
        [
            "--config=benchmark/linear/digits",
            f"--checkpoint={tmp_path}/nope.torch",
            f"--out={tmp_path}",
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --checkpoint=") and "nope.torch" in err
    assert not any(tmp_path.iterdir())  # nothing ran, nothing written


def test_mean_of_runs_without_top_5_is_blank_not_nan():
    from seer_plugins.apps.sweep.results import _mean_std

    assert _mean_std([float("nan"), float("nan")]) == ""
    assert _mean_std([90.0, 92.0]) == "91.00 ± 1.41"


def test_a_mean_over_seeds_averages_runs_of_one_variant_only(tmp_path):
    """Seed 0 rerun with other overrides (`--rerun-changed --seeds 0`) is not
    averaged with seeds 1 and 2 of the earlier ones: two rows, each named."""
    for seed, value in ((0, 60.0), (1, 40.0), (2, 44.0)):
        _metrics(tmp_path / f"s{seed}", _test_line(0, {"0": value}, {"0": 80.0}))
    rows = [
        ResultRow(
            "a",
            "1percent",
            s,
            "finished",
            str(tmp_path / f"s{s}"),
            final_test_accuracy(tmp_path / f"s{s}"),
            variant="new12345" if s == 0 else "old12345",
        )
        for s in (0, 1, 2)
    ]
    text = write_results(rows, tmp_path, "benchmark/x")[0].read_text()
    assert "| checkpoint | labels | labelled | runs | top1 | top5 | variant |" in text
    assert "| a | 1percent |  | 1 | 60.00 | 80.00 | new12345 |" in text
    assert "| a | 1percent |  | 2 | 42.00 ± 2.83 | 80.00 ± 0.00 | old12345 |" in text
    # One variant: no variant column.
    same = [ResultRow(**{**r.__dict__, "variant": "v"}) for r in rows]
    text = write_results(same, tmp_path, "benchmark/x")[0].read_text()
    assert "variant" not in text and "| a | 1percent |  | 3 |" in text
