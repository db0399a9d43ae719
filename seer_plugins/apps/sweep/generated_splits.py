"""The split files a sweep draws itself (`--labels 1%`, `13perclass`), kept in step
with the training folder they are drawn from.

Each split file `<out>/splits/<name>_seed<seed>.txt` has beside it a hidden record
of what it was drawn from (the training folder's manifest, the fraction or count,
the seed: `.<file>.source.json`). A split is drawn again when its folder changed
since (images added or deleted): an old split would name images that are gone and
miss new ones. The split file's contents are part of each run's fingerprint
(:mod:`seer_plugins.runs.fingerprint`), so the runs of a split drawn again are
known to be out of date.
"""

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from tqdm import tqdm

from seer_plugins.checkpoints.atomic import write_text_atomically
from seer_plugins.data.low_shot_split import make_low_shot_split
from seer_plugins.runs.fingerprint import folder_manifest


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def draw_splits(specs: Iterable, split_file: Callable, train_folder: str) -> None:
    """Write the split file (`split_file(spec)`) of each generated-label run spec
    that is missing, or was drawn from another state of `train_folder`."""
    train = folder_manifest(train_folder)
    for spec in specs:
        path = Path(split_file(spec))
        record = path.with_name(f".{path.name}.source.json")
        drawn_from = {
            "train": train,
            "fraction": spec.labels.fraction,
            "per_class": spec.labels.per_class,
            "seed": spec.seed,
        }
        if path.is_file() and _read_json(record) == drawn_from:
            continue
        if path.is_file():
            tqdm.write(f"split {path.name}: {train_folder} changed, drawn again")
        kept = make_low_shot_split(
            train_folder,
            path,
            fraction=spec.labels.fraction,
            per_class=spec.labels.per_class,
            seed=spec.seed,
        )
        tqdm.write(f"split {path.name}: {len(kept)} images of {train_folder}")
        write_text_atomically(record, json.dumps(drawn_from) + "\n")
