"""What a `seer_knn` run leaves in its checkpoint folder, and how to read it.

- `metrics.json`: one line in the layout of VISSL's test meters
  (`{"train_phase_idx": 0, "test_accuracy_list_meter": {"top_1": {layer: %},
  "top_5": {...}}}`), so the benchmark tables (:mod:`seer_plugins.apps.sweep`)
  read a kNN run like a linear or fine-tuning one;
- `knn_results.json`: the settings and accuracies, written last: its presence
  means the run finished.
"""

import json
import os
from pathlib import Path

from seer_plugins.checkpoints.atomic import write_text_atomically

RESULTS_FILE = "knn_results.json"
METRICS_FILE = "metrics.json"


def write_results(folder: str | os.PathLike, results: dict) -> Path:
    """Append the metrics line, then write `knn_results.json` atomically.

    Args:
        results: `{"layers": {layer: {"top1": %, "top5": %}}, ...settings}` (the
            k values the accuracy meter asks for).
    """
    folder = Path(folder)
    layers = results["layers"]
    line = {
        "iteration": 0,
        "phase_idx": 0,
        "train_phase_idx": 0,
        # {"top_1": {layer: %}, "top_5": ...}: VISSL's test meter layout.
        "test_accuracy_list_meter": {
            f"top_{key.removeprefix('top')}": {
                name: acc[key] for name, acc in layers.items()
            }
            for key in next(iter(layers.values()), {})
        },
    }
    with (folder / METRICS_FILE).open("a") as f:
        f.write(json.dumps(line) + "\n")
    return write_text_atomically(
        folder / RESULTS_FILE, json.dumps(results, indent=2) + "\n"
    )


def is_finished(run_dir: str | os.PathLike) -> bool:
    """True once a kNN evaluation wrote its results into `run_dir`."""
    return (Path(run_dir) / RESULTS_FILE).is_file()
