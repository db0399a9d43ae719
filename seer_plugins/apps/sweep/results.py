"""Read a benchmark run's accuracy from VISSL's files and tabulate runs.

VISSL's `LogLossMetricsCheckpointHook` appends one JSON line to
`<CHECKPOINT.DIR>/metrics.json` at the end of every phase it measured:
`{"iteration", "phase_idx", "train_phase_idx", "test_accuracy_list_meter":
{"top_1": {head: value}, "top_5": {...}}}` (values in percent; heads are named by
the linear-eval pool-ops map, e.g. res4/res5/avgpool, or numbered 0, 1, ...; two
heads with one name give a list). It always tests after the last training phase,
so the last test line is the final result.
"""

import csv
import json
import math
import os
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seer_plugins.engines import knn_results

METRICS_FILE = "metrics.json"
TEST_METER = "test_accuracy_list_meter"


@dataclass(frozen=True)
class Accuracy:
    """Final test accuracy of a run: the best head by top-1, and every head."""

    top1: float
    top5: float
    head: str
    train_phase_idx: int
    heads: dict[str, tuple[float, float]] = field(default_factory=dict)


def _per_head(values: dict) -> dict[str, float]:
    """`{"res4": 1.0, "avgpool": [2.0, 3.0]}` -> `{"res4": 1.0, "avgpool": 2.0,
    "avgpool#1": 3.0}`."""
    flat = {}
    for head, value in values.items():
        if isinstance(value, list):
            for i, v in enumerate(value):
                flat[head if i == 0 else f"{head}#{i}"] = float(v)
        else:
            flat[str(head)] = float(value)
    return flat


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """Every JSON line of `run_dir/metrics.json` ([] if there is none yet)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [json.loads(line) for line in lines if line]


def final_test_accuracy(run_dir: str | os.PathLike) -> Accuracy | None:
    """The last test measurement of the run, or None if it was never tested."""
    tests = [m for m in read_metrics(run_dir) if TEST_METER in m]
    if not tests:
        return None
    last = tests[-1]
    top1 = _per_head(last[TEST_METER]["top_1"])
    top5 = _per_head(last[TEST_METER].get("top_5", {}))
    heads = {h: (top1[h], top5.get(h, math.nan)) for h in top1}
    best = max(heads, key=lambda h: heads[h][0])  # SEER reports the best head
    return Accuracy(
        top1=heads[best][0],
        top5=heads[best][1],
        head=best,
        train_phase_idx=int(last.get("train_phase_idx", -1)),
        heads=heads,
    )


@dataclass(frozen=True)
class ResultRow:
    """One run. `labelled`: how many training images its labels cover, in words
    ("3 of 48 (6.25%)"; "" when unknown). `variant`: its fingerprint without the
    seed (:func:`seer_plugins.runs.fingerprint.variant`; "" when not recorded): a
    mean over seeds averages runs of one variant only."""

    checkpoint: str
    labels: str
    seed: int
    status: str
    run_dir: str
    accuracy: Accuracy | None = None
    labelled: str = ""
    variant: str = ""


COLUMNS = (
    "checkpoint",
    "labels",
    "labelled",
    "seed",
    "status",
    "top1",
    "top5",
    "head",
    "run_dir",
)


def _fmt(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.2f}"


def _cells(row: ResultRow) -> dict[str, str]:
    acc = row.accuracy
    return {
        "checkpoint": row.checkpoint,
        "labels": row.labels,
        "labelled": row.labelled,
        "seed": str(row.seed),
        "status": row.status,
        "top1": _fmt(acc.top1 if acc else None),
        "top5": _fmt(acc.top5 if acc else None),
        "head": acc.head if acc else "",
        "run_dir": row.run_dir,
    }


def _mean_std(values: Sequence[float]) -> str:
    values = [v for v in values if not math.isnan(v)]  # top-5 not measured: nan
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def _summary(rows: Iterable[ResultRow]) -> tuple[list[str], list[list[str]]]:
    """Mean ± std over seeds per (checkpoint, labels, variant), finished runs only;
    returns (header, rows). The variant column is shown when one (checkpoint,
    labels) holds runs of more than one variant (other overrides or inputs, after a
    `--rerun-changed` of some seeds): those are not averaged together."""
    groups: dict[tuple[str, str, str], list[ResultRow]] = defaultdict(list)
    for row in rows:
        if row.accuracy is not None and row.status == "finished":
            groups[row.checkpoint, row.labels, row.variant].append(row)
    pairs = [(ckpt, labels) for ckpt, labels, _ in groups]
    mixed = any(pairs.count(pair) > 1 for pair in pairs)
    header = ["checkpoint", "labels", "labelled", "runs", "top1", "top5"]
    table = []
    for (ckpt, labels, variant), group in sorted(groups.items()):
        line = [
            ckpt,
            labels,
            " / ".join(dict.fromkeys(r.labelled for r in group if r.labelled)),
            str(len(group)),
            _mean_std([r.accuracy.top1 for r in group]),
            _mean_std([r.accuracy.top5 for r in group]),
        ]
        table.append([*line, variant or "unrecorded"] if mixed else line)
    return ([*header, "variant"] if mixed else header), table


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def write_results(
    rows: Sequence[ResultRow], out_dir: str | os.PathLike, title: str
) -> tuple[Path, Path]:
    """`results.md` (per run, then mean ± std over seeds) and `results.csv`.

    Returns:
        (markdown path, csv path).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = [_cells(r) for r in rows]
    md = [
        f"# {title}",
        "",
        "Final test accuracy (%) of each run; `head` is the best head by top-1; "
        "`labelled`: the training images its labels cover.",
        "",
        _markdown_table(COLUMNS, ([c[k] for k in COLUMNS] for c in cells)),
    ]
    header, summary = _summary(rows)
    if summary:
        md += ["", "## Mean ± std over seeds", "", _markdown_table(header, summary)]
    md_path = out_dir / "results.md"
    md_path.write_text("\n".join(md) + "\n")
    csv_path = out_dir / "results.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(cells)
    return md_path, csv_path


def status_text(run_dir: str | os.PathLike, status: str) -> str:
    """A run's status in words, with its accuracy when it finished."""
    if status == "no final test":
        return f"{status}: VISSL will not resume it; delete {run_dir} to rerun"
    if status != "finished":
        return status
    acc = final_test_accuracy(run_dir)
    top5 = "" if math.isnan(acc.top5) else f", top-5 {acc.top5:.2f}"
    return f"finished: top-1 {acc.top1:.2f}{top5} ({acc.head}){_knn_note(run_dir)}"


def _knn_note(run_dir: str | os.PathLike) -> str:
    """A k-NN run's k, when it is not the one asked for (above the labelled images)."""
    path = Path(run_dir) / knn_results.RESULTS_FILE
    if not path.is_file():
        return ""
    results = json.loads(path.read_text())
    asked, used = results.get("k_asked"), results.get("k")
    if asked is None or asked == used:
        return ""
    return (
        f"; k={used}: NEAREST_NEIGHBOR.TOPK={asked} is above the {used} labelled images"
    )
