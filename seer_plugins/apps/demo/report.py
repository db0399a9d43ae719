"""The demo's outputs: results.json, a mean ± std table, the pretraining loss curve
and the accuracy plot (matplotlib, Agg), timing.json."""

import json
import os
import statistics
from collections import defaultdict
from pathlib import Path

from seer_plugins.apps.sweep import runs as runs_lib
from seer_plugins.apps.sweep.label_sizes import LabelSize
from seer_plugins.apps.sweep.results import final_test_accuracy


def collect(sweeps: dict, pretrain_seed: int | None = None) -> list[dict]:
    """One record per finished run: protocol, label_fraction (the one asked for),
    labelled_images of train_images and labelled_fraction (what it came to), init,
    seed, top1 and, when
    given, the pretraining's seed (which made the "seer" trunk; `seed` is the label
    split's and the benchmark run's)."""
    records = []
    for protocol, sweep in sweeps.items():
        for spec in sweep.runs:
            if runs_lib.run_status(spec.run_dir) != "finished":
                continue
            size = sweep.labelled(spec)
            records.append(
                {
                    "protocol": protocol,
                    "label_fraction": spec.labels.fraction,
                    "labelled_images": size.images if size else None,
                    "train_images": size.of if size else None,
                    "labelled_fraction": round(size.fraction, 4) if size else None,
                    "init": spec.checkpoint,
                    "seed": spec.seed,
                    "top1": final_test_accuracy(spec.run_dir).top1,
                }
            )
            if pretrain_seed is not None:
                records[-1]["pretrain_seed"] = pretrain_seed
    return records


def summarize(records: list[dict]) -> dict[tuple, tuple[float, float, int]]:
    """(protocol, label_fraction, init) -> (mean, std over seeds, #seeds)."""
    groups = defaultdict(list)
    for r in records:
        groups[r["protocol"], r["label_fraction"], r["init"]].append(r["top1"])
    return {
        key: (
            statistics.mean(v),
            statistics.stdev(v) if len(v) > 1 else 0.0,
            len(v),
        )
        for key, v in sorted(groups.items())
    }


def format_table(records: list[dict]) -> str:
    """Mean ± std per protocol, label fraction and init; `labelled` says what the
    fraction came to on this folder (a small folder's "1%" may be 6%)."""
    labelled = {
        r["label_fraction"]: LabelSize(r["labelled_images"], r["train_images"]).text()
        for r in records
        if r.get("labelled_images") is not None
    }
    lines = [
        f"{'protocol':<10}{'labels':>8}{'labelled':>22}{'init':>8}   top-1 (%)"
        "      seeds",
    ]
    for (protocol, fraction, init), (mean, std, n) in summarize(records).items():
        lines.append(
            f"{protocol:<10}{fraction:>8.0%}{labelled.get(fraction, ''):>22}"
            f"{init:>8}   {mean:6.2f} ± {std:5.2f}   {n}"
        )
    return "\n".join(lines)


def read_loss_curve(checkpoint_dir: str | os.PathLike) -> tuple[list, list]:
    """(iterations, losses) from the `stdout.json` VISSL's LogLossLrEtaHook appends
    every LOG_FREQUENCY training iterations (`{"iter": ..., "loss": ...}`)."""
    path = Path(checkpoint_dir) / "stdout.json"
    points = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                points[entry["iter"]] = entry["loss"]  # a resumed run rewrites some
    iterations = sorted(points)
    return iterations, [points[i] for i in iterations]


def plot_loss(checkpoint_dir, path: Path, data_name: str = "digits") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iterations, losses = read_loss_curve(checkpoint_dir)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(iterations, losses, marker="." if len(losses) < 30 else None)
    ax.set(xlabel="iteration", ylabel="SwAV loss", title=f"Pretraining on {data_name}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_accuracy(records: list[dict], path: Path) -> None:
    """Top-1 per label fraction, seer vs random, one panel per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(records)
    protocols = sorted({k[0] for k in summary}, reverse=True)  # linear, finetune
    fig, axes = plt.subplots(1, max(len(protocols), 1), figsize=(10, 4), squeeze=False)
    for ax, protocol in zip(axes[0], protocols, strict=False):
        for init in ("seer", "random"):
            keys = sorted(k for k in summary if k[0] == protocol and k[2] == init)
            if not keys:
                continue
            ax.errorbar(
                [100 * k[1] for k in keys],
                [summary[k][0] for k in keys],
                yerr=[summary[k][1] for k in keys],
                marker="o",
                capsize=4,
                label=init,
            )
        ax.set_xscale("log")
        ax.set(xlabel="labels (%)", ylabel="top-1 (%)", title=protocol)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(
    records: list[dict], out: Path, pretrain_dir: Path, data_name: str = "digits"
) -> None:
    (out / "results.json").write_text(json.dumps(records, indent=2) + "\n")
    print(format_table(records))
    plot_loss(pretrain_dir, out / "pretrain_loss.png", data_name)
    plot_accuracy(records, out / "accuracy.png")
    print(f"wrote {out / 'results.json'}, pretrain_loss.png, accuracy.png")


def write_timing(
    out: Path, seconds: float, settings: dict, stages: dict | None = None
) -> None:
    """timing.json: the wall time of this invocation, in all and per stage (a
    stage a rerun skipped counts ~0 s), and the settings it ran with."""
    content = {"total_seconds": round(seconds, 1), "settings": settings}
    if stages:
        content["stage_seconds"] = {k: round(v, 1) for k, v in stages.items()}
    (out / "timing.json").write_text(json.dumps(content, indent=2) + "\n")
