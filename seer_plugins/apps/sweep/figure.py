"""A sweep's `results.png`: top-1 per label subset, one series per checkpoint,
every seed a dot and mean ± std over seeds an error bar."""

import csv
import os
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from seer_plugins.apps.sweep.results import Accuracy, ResultRow

PLOT_FILE = "results.png"


def finished_top1(rows: Sequence[ResultRow]) -> dict[str, dict[str, list[float]]]:
    """checkpoint -> label subset -> top-1 of each finished seed, in row order."""
    table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.status == "finished" and row.accuracy is not None:
            table[row.checkpoint][row.labels].append(row.accuracy.top1)
    return table


def rows_from_csv(path: str | os.PathLike) -> list[ResultRow]:
    """`results.csv` back into rows carrying only what the plot needs."""
    rows = []
    with Path(path).open(newline="") as f:
        for cells in csv.DictReader(f):
            accuracy = None
            if cells["top1"]:
                top5 = float(cells["top5"]) if cells["top5"] else float("nan")
                accuracy = Accuracy(float(cells["top1"]), top5, cells["head"], -1)
            rows.append(
                ResultRow(
                    cells["checkpoint"],
                    cells["labels"],
                    int(cells["seed"]),
                    cells["status"],
                    cells["run_dir"],
                    accuracy,
                )
            )
    return rows


def plot_results(
    rows: Sequence[ResultRow], out_dir: str | os.PathLike, title: str
) -> Path | None:
    """Write `<out_dir>/results.png`; None (nothing written) before any run finished."""
    table = finished_top1(rows)
    if not table:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r.labels for r in rows))
    checkpoints = list(table)
    width = 0.8 / len(checkpoints)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(labels) + 2), 4))
    for n, checkpoint in enumerate(checkpoints):
        offset = (n - (len(checkpoints) - 1) / 2) * width
        xs, means, stds = [], [], []
        for x, label in enumerate(labels):
            values = table[checkpoint].get(label, [])
            if not values:
                continue
            ax.scatter(
                [x + offset] * len(values), values, s=12, alpha=0.5, color=f"C{n}"
            )
            xs.append(x + offset)
            means.append(statistics.mean(values))
            stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
        ax.errorbar(
            xs, means, yerr=stds, marker="o", capsize=4, color=f"C{n}", label=checkpoint
        )
    ax.set_xticks(range(len(labels)), labels)
    ax.set(xlabel="labels", ylabel="top-1 (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(title="checkpoint")
    fig.tight_layout()
    path = Path(out_dir) / PLOT_FILE
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
