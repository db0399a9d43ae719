"""A training run's curves from the files VISSL and our hooks leave in its folder.

- `stdout.json` (VISSL's `LogLossLrEtaHook`, every `LOG_FREQUENCY` iterations):
  `{"iter", "loss", "lr", ...}` per line; a resumed run rewrites some iterations,
  the last line of an iteration wins;
- `log.txt`: `iter N throughput: X img/s` lines of the `seer_throughput` hook;
- `train_config.yaml`: the SwAV prototypes, for the collapse level: a SwAV loss
  stuck at the mean of ln(K_i) over its prototype sets has collapsed.
"""

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

STDOUT_JSON = "stdout.json"
LOG_FILE = "log.txt"
CONFIG_FILE = "train_config.yaml"
PLOT_FILE = "training.png"
_THROUGHPUT = re.compile(r"iter (\d+) throughput: ([0-9.]+) img/s")


@dataclass
class TrainingLog:
    """Per-iteration series of one run; each a sorted list of (iteration, value)."""

    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    images_per_second: list = field(default_factory=list)
    collapse_level: float | None = None


def _first(value):
    """VISSL logs a list of rates when param groups differ: plot the first."""
    return float(value[0] if isinstance(value, list) else value)


def _series(points: dict) -> list:
    return sorted(points.items())


def collapse_level(config: dict) -> float | None:
    """Mean of ln(K_i) over the SwAV loss's prototype sets, or None (not SwAV)."""
    loss = config.get("LOSS", {})
    settings = loss.get(loss.get("name", ""), {})
    prototypes = settings.get("num_prototypes") if isinstance(settings, dict) else None
    if not prototypes:
        return None
    return sum(math.log(k) for k in prototypes) / len(prototypes)


def read_training_log(run_dir: str | os.PathLike) -> TrainingLog:
    run_dir = Path(run_dir)
    log = TrainingLog()
    loss, lr, speed = {}, {}, {}
    stdout = run_dir / STDOUT_JSON
    if stdout.is_file():
        for line in stdout.read_text().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            if "loss" in entry:
                loss[entry["iter"]] = float(entry["loss"])
            if "lr" in entry:
                lr[entry["iter"]] = _first(entry["lr"])
    text = run_dir / LOG_FILE
    if text.is_file():
        for match in _THROUGHPUT.finditer(text.read_text(errors="replace")):
            speed[int(match.group(1))] = float(match.group(2))
    config = run_dir / CONFIG_FILE
    if config.is_file():
        log.collapse_level = collapse_level(yaml.safe_load(config.read_text()) or {})
    log.loss, log.lr, log.images_per_second = map(_series, (loss, lr, speed))
    return log


def plot_training(
    run_dir: str | os.PathLike, path: str | os.PathLike | None = None
) -> Path:
    """Loss (with the collapse level), learning rate and img/s of the run in
    `run_dir`, one panel each, into `path` (default `<run_dir>/training.png`).

    Raises:
        FileNotFoundError: `run_dir` holds no `stdout.json` with losses.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    log = read_training_log(run_dir)
    if not log.loss:
        raise FileNotFoundError(
            f"{run_dir / STDOUT_JSON}: no losses logged (VISSL writes one line every "
            "config.LOG_FREQUENCY iterations)"
        )
    fig, (ax_loss, ax_lr, ax_speed) = plt.subplots(1, 3, figsize=(13, 3.8))
    marker = "." if len(log.loss) < 30 else None
    ax_loss.plot(*zip(*log.loss, strict=True), marker=marker, label="loss")
    if log.collapse_level is not None:
        ax_loss.axhline(
            log.collapse_level,
            color="tab:red",
            linestyle="--",
            label=f"ln K = {log.collapse_level:.3f} (collapsed)",
        )
    ax_loss.set(xlabel="iteration", ylabel="loss", title="training loss")
    ax_loss.legend()
    if log.lr:
        ax_lr.plot(*zip(*log.lr, strict=True), color="tab:green")
    ax_lr.set(xlabel="iteration", ylabel="learning rate", title="learning rate")
    if log.images_per_second:
        ax_speed.plot(*zip(*log.images_per_second, strict=True), color="tab:purple")
    else:
        ax_speed.text(
            0.5,
            0.5,
            "no throughput logged\n(HOOKS.PLUGINS: [seer_throughput])",
            ha="center",
            va="center",
            transform=ax_speed.transAxes,
        )
    ax_speed.set(xlabel="iteration", ylabel="img/s", title="throughput")
    for ax in (ax_loss, ax_lr, ax_speed):
        ax.grid(alpha=0.3)
    fig.suptitle(str(run_dir.name))
    fig.tight_layout()
    path = Path(path) if path else run_dir / PLOT_FILE
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
