"""Plots: a run's loss (with ln K marked), learning rate and img/s from its own logs;
a sweep's results.png; `seer plot DIR` picks one by what DIR holds."""

import json
import math

import pytest
import yaml

import seer_plugins  # noqa: F401

# isort: split
from seer_plugins.apps.plots import command, training
from seer_plugins.apps.sweep import figure as results
from seer_plugins.apps.sweep.results import Accuracy, ResultRow, write_results
from seer_plugins.errors import ConfigError


def _run_dir(folder, prototypes=(100,)):
    """What VISSL and seer_throughput leave: stdout.json, log.txt, train_config."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        {"iter": i, "loss": 4.6 - 0.1 * i, "lr": [0.1 / (i + 1)]} for i in range(5)
    ]
    lines.append({"iter": 4, "loss": 1.0, "lr": 0.01})  # a resumed run rewrites 4
    (folder / "stdout.json").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (folder / "log.txt").write_text(
        "INFO ... throughput.py: 170: iter 2 throughput: 150.5 img/s\n"
        "INFO ... throughput.py: 170: iter 4 throughput: 160.0 img/s; MFU 1.0%\n"
    )
    config = {"LOSS": {"name": "seer_swav_loss", "seer_swav_loss": {}}}
    config["LOSS"]["seer_swav_loss"]["num_prototypes"] = list(prototypes)
    (folder / "train_config.yaml").write_text(yaml.safe_dump(config))
    return folder


def test_training_log_reads_losses_rates_throughput_and_collapse_level(tmp_path):
    log = training.read_training_log(_run_dir(tmp_path, prototypes=(100, 30)))
    assert [i for i, _ in log.loss] == [0, 1, 2, 3, 4] and log.loss[-1] == (4, 1.0)
    assert log.lr[0] == (0, 0.1) and log.lr[-1] == (4, 0.01)
    assert log.images_per_second == [(2, 150.5), (4, 160.0)]
    assert log.collapse_level == pytest.approx((math.log(100) + math.log(30)) / 2)


def test_seer_plot_draws_a_run(tmp_path, capsys):
    run = _run_dir(tmp_path / "pretrain")
    assert command.main([str(run)]) == 0
    assert (run / "training.png").stat().st_size > 0
    assert "training.png" in capsys.readouterr().out


def _rows(tmp_path):
    rows = []
    for checkpoint, base in (("seer", 80.0), ("random", 40.0)):
        for labels in ("1percent", "10percent"):
            for seed in (0, 1):
                acc = Accuracy(base + seed, 99.0, "avgpool", 0)
                rows.append(
                    ResultRow(checkpoint, labels, seed, "finished", str(tmp_path), acc)
                )
    rows.append(ResultRow("random", "10percent", 2, "failed", str(tmp_path)))
    return rows


def test_sweep_plot_and_its_redraw_from_the_csv(tmp_path):
    rows = _rows(tmp_path)
    table = results.finished_top1(rows)
    assert table["seer"]["10percent"] == [80.0, 81.0]
    assert table["random"]["10percent"] == [40.0, 41.0]  # the failed run left out
    write_results(rows, tmp_path, title="benchmark/linear/digits")
    assert results.rows_from_csv(tmp_path / "results.csv")[0] == ResultRow(
        "seer",
        "1percent",
        0,
        "finished",
        str(tmp_path),
        Accuracy(80.0, 99.0, "avgpool", -1),
    )
    assert command.main([str(tmp_path)]) == 0
    assert (tmp_path / "results.png").stat().st_size > 0
    # Nothing finished yet: no plot.
    assert results.plot_results(rows[-1:], tmp_path / "none", "t") is None


def test_seer_plot_refuses_a_folder_without_logs(tmp_path):
    with pytest.raises(ConfigError, match=r"^DIR='.*': holds neither stdout.json"):
        command.main([str(tmp_path)])
