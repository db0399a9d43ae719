"""A sweep's runs: checkpoints x label subsets x seeds, where they live, their state.

Each run is one VISSL training whose `CHECKPOINT.DIR` is
`<sweep>/<checkpoint>/<labels>/seed<seed>`. Its state comes from what VISSL leaves
there:

- `finished`: a final checkpoint (`model_final_checkpoint_*.torch`, VISSL's own
  "training succeeded" test, after which its launcher refuses to train again) and,
  in `metrics.json`, the test after that last training phase; or, for a kNN run
  (which trains nothing and writes no checkpoint), its results file
  (:mod:`seer_plugins.engines.knn_results`);
- `no final test`: a final checkpoint without that test (the run died while
  testing): VISSL would not resume it; delete the folder to rerun;
- `partial`: checkpoints but no final one; rerunning resumes (AUTO_RESUME);
- `submitted`: handed to SLURM by an earlier sweep and not finished yet;
- `new`: nothing there yet.

A run's folder records what the sweep asked (`sweep_run.json`: the spec and the
overrides) and, written by the launcher, what determines its result
(`seer_run.json`, :mod:`seer_plugins.runs.fingerprint`); a sweep refuses to skip or
resume a run whose fingerprint changed (see :mod:`seer_plugins.apps.sweep.sweep`).
"""

import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser

from seer_plugins.apps.sweep.results import final_test_accuracy
from seer_plugins.data.low_shot_split import split_name
from seer_plugins.engines import knn_results
from seer_plugins.errors import ConfigError

FINAL_CHECKPOINT = re.compile(r"model_final_checkpoint_phase(\d+)(_shard\d+)?\.torch$")
RUN_FILE = "sweep_run.json"
# Runs replaced by a rerun with other overrides are kept here, out of the tables.
SUPERSEDED = "superseded"
SLURM_FILE = "slurm_job.json"
ALL_LABELS = "all"


@dataclass(frozen=True)
class Labels:
    """A label subset: a given split file, or one to generate (fraction or per class).

    `split_file=""` with no fraction/per_class means the config's own labels.
    """

    name: str
    split_file: str = ""
    fraction: float | None = None
    per_class: int | None = None

    @property
    def generated(self) -> bool:
        return self.fraction is not None or self.per_class is not None


def parse_labels(spec: str) -> Labels:
    """`NAME=PATH` (a split file), `1%` / `0.01` (fraction), `13perclass`, `all`."""
    if "=" in spec:
        name, path = spec.split("=", 1)
        return Labels(name=name, split_file=path)
    if spec == ALL_LABELS:
        return Labels(name=ALL_LABELS)
    match = re.fullmatch(r"(\d+)perclass", spec)
    if match:
        per_class = int(match.group(1))
        return Labels(name=split_name(per_class=per_class), per_class=per_class)
    try:
        fraction = float(spec[:-1]) / 100 if spec.endswith("%") else float(spec)
    except ValueError:
        raise ConfigError(
            "--labels",
            spec,
            "is not a label subset",
            "use NAME=PATH (a split file, e.g. 1pct=/splits/1percent.txt), a "
            "fraction (1%, 0.1), Nperclass (13perclass) or all",
        ) from None
    if not 0 < fraction <= 1:
        raise ConfigError("--labels", spec, "is not a fraction", "in (0, 100%]")
    return Labels(name=split_name(fraction=fraction), fraction=fraction)


def parse_checkpoint(spec: str) -> tuple[str, str]:
    """`NAME=PATH`, or `PATH` named after its folder (`.../run_a/model.torch` -> run_a)."""
    if "=" in spec:
        name, path = spec.split("=", 1)
        return name, path
    path = Path(spec)
    return (path.parent.name or path.stem), spec


@dataclass(frozen=True)
class RunSpec:
    checkpoint: str
    checkpoint_path: str
    labels: Labels
    seed: int
    run_dir: str

    def describe(self) -> str:
        return f"{self.checkpoint} / {self.labels.name} / seed {self.seed}"


def plan_runs(
    out_dir: str | os.PathLike,
    checkpoints: list[tuple[str, str]],
    labels: list[Labels],
    seeds: list[int],
) -> list[RunSpec]:
    """The grid, checkpoint-major. Names must be unique: they become folders."""
    for kind, names in (
        ("checkpoint", [name for name, _ in checkpoints]),
        ("label subset", [lab.name for lab in labels]),
    ):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ConfigError(
                "--checkpoint" if kind == "checkpoint" else "--labels",
                duplicated,
                f"{kind} names must be unique (they name run folders)",
                "name them explicitly with NAME=PATH",
            )
    out_dir = Path(out_dir)
    return [
        RunSpec(
            checkpoint=name,
            checkpoint_path=path,
            labels=lab,
            seed=seed,
            run_dir=str(out_dir / name / lab.name / f"seed{seed}"),
        )
        for name, path in checkpoints
        for lab in labels
        for seed in seeds
    ]


def final_checkpoint_phase(run_dir: str | os.PathLike) -> int | None:
    """The training phase of VISSL's final checkpoint in `run_dir`, if any."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    phases = [
        int(m.group(1))
        for m in (FINAL_CHECKPOINT.match(p.name) for p in run_dir.iterdir())
        if m
    ]
    return max(phases) if phases else None


def run_status(run_dir: str | os.PathLike) -> str:
    """One of finished, no final test, submitted, partial, new (module docstring)."""
    run_dir = Path(run_dir)
    if knn_results.is_finished(run_dir):
        return "finished"
    final_phase = final_checkpoint_phase(run_dir)
    if final_phase is not None:
        accuracy = final_test_accuracy(run_dir)
        if accuracy is not None and accuracy.train_phase_idx >= final_phase:
            return "finished"
        return "no final test"
    if (run_dir / SLURM_FILE).is_file():
        return "submitted"
    if run_dir.is_dir() and any(run_dir.glob("*.torch")):
        return "partial"
    return "new"


def run_identity(overrides: Sequence[str]) -> dict[str, str]:
    """What a run is: its overrides resolved to `{key: value}` (Hydra's parse, so
    `++` / `+`, spacing and order do not matter, and a later override wins)."""
    parser = OverridesParser.create()
    identity = {}
    for override in parser.parse_overrides(list(overrides)):
        identity[override.key_or_group] = override.get_value_element_as_str()
    return dict(sorted(identity.items()))


def record_run(spec: RunSpec, overrides: list[str], labelled=None) -> None:
    """Write what a run is (spec, overrides, identity, and, when known, how many
    training images its labels cover: a `LabelSize`) into its folder."""
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    content = {
        "spec": asdict(spec),
        "overrides": overrides,
        "identity": run_identity(overrides),
    }
    if labelled is not None:
        content["labelled"] = labelled.as_record()
    (run_dir / RUN_FILE).write_text(json.dumps(content, indent=2) + "\n")


def read_record(run_dir: str | os.PathLike) -> dict | None:
    """A run folder's record ({spec, overrides, identity}), or None."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    record.setdefault("identity", run_identity(record.get("overrides", [])))
    return record


def recorded_runs(out_dir: str | os.PathLike) -> list[RunSpec]:
    """Every run recorded under a sweep folder (replaced runs excluded)."""
    out_dir = Path(out_dir)
    specs = []
    for path in sorted(out_dir.rglob(RUN_FILE)):
        if SUPERSEDED in path.relative_to(out_dir).parts:
            continue
        spec = json.loads(path.read_text())["spec"]
        spec["labels"] = Labels(**spec["labels"])
        specs.append(RunSpec(**spec))
    return specs


def supersede(spec: RunSpec | str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Move a run's folder (a spec's, or any under `out_dir`) aside
    (`<out>/superseded/<time>/...`); returns where."""
    folder = spec.run_dir if isinstance(spec, RunSpec) else spec
    run_dir, out_dir = Path(folder), Path(out_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = out_dir / SUPERSEDED / stamp / run_dir.relative_to(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(run_dir), target)
    return target


def record_slurm_job(spec: RunSpec, job_id: str) -> None:
    (Path(spec.run_dir) / SLURM_FILE).write_text(json.dumps({"job_id": job_id}) + "\n")
