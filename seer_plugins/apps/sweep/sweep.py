"""Run one benchmark config over checkpoints x label subsets x seeds; tabulate.

Locally, runs go one after another, each in its own process
(`tools/run_distributed_engines.py`), so one run's crash or global state cannot
leak into the next; with `--slurm` each run is submitted as its own job. Finished
runs are skipped (see :mod:`seer_plugins.apps.sweep.runs`), so rerunning the same
command resumes a sweep; a recorded run whose overrides changed is refused, or rerun
with `--rerun-changed`. The tables list every run recorded in the sweep folder;
`--collect --out DIR` rebuilds them from disk alone. Beside
`results.md` and `results.csv`, `results.png` plots top-1 per label subset and
checkpoint (:mod:`seer_plugins.apps.sweep.figure`). The command line is
:mod:`seer_plugins.apps.sweep.command` (`seer sweep`).
"""

import subprocess
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from seer_plugins.apps.sweep import runs as runs_lib
from seer_plugins.apps.sweep.figure import plot_results
from seer_plugins.apps.sweep.generated_splits import draw_splits
from seer_plugins.apps.sweep.label_sizes import (
    LabelSize,
    Subset,
    duplicates,
    nearer_named,
    refuse_duplicate,
    refuse_full,
    split_entries,
    training_image_count,
)
from seer_plugins.apps.sweep.results import (
    ResultRow,
    final_test_accuracy,
    status_text,
    write_results,
)
from seer_plugins.apps.sweep.runs import Labels, RunSpec
from seer_plugins.config.overrides import override
from seer_plugins.config.paths import repo_tool
from seer_plugins.errors import ConfigError
from seer_plugins.runs import run_folder
from seer_plugins.runs.fingerprint import (
    describe,
    fingerprint,
    manifests_cached,
)

_REPO_TOOL = repo_tool("run_distributed_engines.py")
# Without a checkout's tools/ (an installed wheel), the same entry point inline:
# workers unpickle the hook generator from seer_plugins, which registers plugins.
_INLINE_ENTRY = "import sys, seer_plugins.apps.launcher as l; l.main(sys.argv[1:])"
PENDING = ("new", "partial")


def launcher_command(overrides: Sequence[str]) -> list[str]:
    if _REPO_TOOL is not None:
        return [sys.executable, str(_REPO_TOOL), *overrides]
    return [sys.executable, "-c", _INLINE_ENTRY, *overrides]


def _train_folder(config) -> str:
    """The training image folder of a composed config (DATA_PATHS or the catalog)."""
    train = config.DATA.TRAIN
    if train.DATA_PATHS:
        return train.DATA_PATHS[0]
    from vissl.data.dataset_catalog import VisslDatasetCatalog

    name = train.DATASET_NAMES[0]
    if not VisslDatasetCatalog.has_data(name):
        raise ConfigError(
            "config.DATA.TRAIN.DATA_PATHS",
            [],
            f"is empty and dataset {name!r} is not in VISSL's dataset catalog; "
            "generating a label split needs the training image folder",
            "set config.DATA.TRAIN.DATA_PATHS=[/path/to/train]",
        )
    return VisslDatasetCatalog.get(name)["train"][0]


@dataclass
class Sweep:
    """Args:
    config: benchmark config name, e.g. `benchmark/linear/in1k`.
    runs: the grid (:func:`runs.plan_runs`).
    out_dir: holds the runs, generated splits and results.{md,csv}.
    overrides: Hydra overrides applied to every run.
    slurm: submit each pending run as a SLURM job instead of running it here.
    slurm_cluster: submitit cluster (None: SLURM; "debug"/"local" in tests).
    resubmit: submit runs an earlier sweep submitted that have not finished.
    rerun_changed: rerun recorded runs whose overrides changed (their folders move
        to `<out>/superseded/`) instead of refusing.
    merge_labels: label subsets that label the same images run once, and a part
        that labels every image runs as it is, each said in one line, instead of
        refusing (the demo, whose label fractions are fixed).
    """

    config: str
    runs: list[RunSpec]
    out_dir: Path
    overrides: list[str]
    slurm: bool = False
    slurm_cluster: str | None = None
    resubmit: bool = False
    rerun_changed: bool = False
    merge_labels: bool = False
    _changed: list[RunSpec] = field(default_factory=list)
    # run folder -> how many training images its labels cover
    _labelled: dict[str, LabelSize] = field(default_factory=dict)

    def _base_overrides(self) -> list[str]:
        return [f"config={self.config}", *self.overrides]

    def split_file(self, spec: RunSpec) -> str:
        labels = spec.labels
        if not labels.generated:
            return labels.split_file
        return str(self.out_dir / "splits" / f"{labels.name}_seed{spec.seed}.txt")

    def run_overrides(self, spec: RunSpec) -> list[str]:
        """The launcher's overrides for one run; later ones win in Hydra."""
        overrides = [
            *self._base_overrides(),
            override("config.MODEL.WEIGHTS_INIT.PARAMS_FILE", spec.checkpoint_path),
            f"config.SEED_VALUE={spec.seed}",
            override("config.CHECKPOINT.DIR", spec.run_dir),
        ]
        if spec.labels.name != runs_lib.ALL_LABELS or spec.labels.split_file:
            # `++`: works whether or not the benchmark config names the key.
            overrides.append(
                override(
                    "++config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE", self.split_file(spec)
                )
            )
        return overrides

    def check_inputs(self) -> None:
        """Fail before the first run on an input that cannot work (one line each)."""
        from seer_plugins.checks.preflight import preflight
        from seer_plugins.config.compose import compose, compose_with_args

        for spec in self.runs:
            if spec.checkpoint_path and not Path(spec.checkpoint_path).is_file():
                raise ConfigError(
                    "--checkpoint",
                    f"{spec.checkpoint}={spec.checkpoint_path}",
                    "is not a file",
                    "give NAME=PATH of a pretraining checkpoint",
                )
            if spec.labels.split_file and not Path(spec.labels.split_file).is_file():
                raise ConfigError(
                    "--labels",
                    f"{spec.labels.name}={spec.labels.split_file}",
                    "is not a split file",
                    "write one with tools/make_low_shot_split.py",
                )
        config = compose(self._base_overrides())
        for split in ("TRAIN", "TEST"):
            for i, path in enumerate(config.DATA[split].DATA_PATHS):
                if not Path(path).exists():
                    raise ConfigError(
                        f"config.DATA.{split}.DATA_PATHS[{i}]",
                        path,
                        "does not exist",
                        f"pass config.DATA.{split}.DATA_PATHS=[your images] after --",
                    )
        if any(spec.labels.generated for spec in self.runs):
            draw_splits(
                [spec for spec in self.runs if spec.labels.generated],
                self.split_file,
                _train_folder(config),
            )
        self._check_label_subsets(config)
        self.check_identities()
        if not self.slurm:
            # Each checkpoint once, with its first run's config: the launcher's
            # preflight (data, weights) before hours of runs, not at run N.
            first = {spec.checkpoint: spec for spec in reversed(self.runs)}
            for spec in first.values():
                compose_with_args(self.run_overrides(spec), check=preflight)

    def check_identities(self) -> None:
        """Refuse to skip or resume runs whose fingerprint changed: their config,
        data, weights or split file (:mod:`seer_plugins.runs.fingerprint`)."""
        from seer_plugins.config.compose import compose_with_args

        changed = []
        with manifests_cached():
            for spec in self.runs:
                if runs_lib.run_status(spec.run_dir) == "new":
                    continue
                args, config = compose_with_args(self.run_overrides(spec))
                difference = run_folder.changes(spec.run_dir, config, args.engine_name)
                if difference:
                    changed.append((spec, difference))
        if not changed or self.rerun_changed:
            self._changed = [spec for spec, _ in changed]
            return
        spec, difference = changed[0]
        more = f" (and {len(difference) - 1} more)" if len(difference) > 1 else ""
        raise ConfigError(
            "--out",
            str(self.out_dir),
            f"{len(changed)} recorded run(s) were made with other config or inputs "
            f"(e.g. {spec.describe()}: {describe(difference[0])}{more})",
            "add --rerun-changed to rerun them (their folders move to "
            f"{runs_lib.SUPERSEDED}/), or use another --out",
        )

    def _subset(self, spec: RunSpec) -> Subset:
        has_file = spec.labels.generated or spec.labels.split_file
        return Subset(spec, split_entries(self.split_file(spec) if has_file else None))

    def _check_label_subsets(self, config) -> None:
        """How many images each row labels; rows that label the same images, or a
        part that labels every image, are refused (merged: `merge_labels`)."""
        try:
            folder = _train_folder(config)
            total = training_image_count(folder)
        except (ConfigError, ValueError, OSError):
            # No listable folder here (a catalogued dataset; SLURM's nodes hold
            # the data): sizes unknown; the runs' own checks see the data.
            return
        subsets = [self._subset(spec) for spec in self.runs]
        self._labelled = {s.spec.run_dir: s.size(total) for s in subsets}
        merged = {}
        for kept, duplicate in duplicates(subsets, total):
            if not self.merge_labels:
                raise refuse_duplicate(kept, duplicate, folder, total)
            # The row keeps the name nearer what it labels ("10%" for 12.5%).
            kept, duplicate = nearer_named(kept, duplicate, total)
            self.runs.remove(duplicate.spec)
            merged[duplicate.spec.labels.name] = (kept.spec.labels.name, duplicate)
        for name, (kept, duplicate) in merged.items():
            _say_once(
                f"labels {name}: the same {duplicate.size(total).text()} images as "
                f"{kept}; its runs are {kept}'s"
            )
        full = {s.spec.labels.name: s for s in subsets if s.spec in self.runs}
        for subset in full.values():
            if subset.asks_for_part and subset.size(total).images == total:
                if not self.merge_labels:
                    raise refuse_full(subset, folder, total)
                _say_once(
                    f"labels {subset.spec.labels.name}: every image of {folder} "
                    f"({total:,}; at least one per class)"
                )

    @property
    def changed(self) -> list[RunSpec]:
        """Recorded runs whose fingerprint changed, to rerun (`rerun_changed`;
        known after :meth:`check_inputs`)."""
        return list(self._changed)

    def labelled(self, spec: RunSpec) -> LabelSize | None:
        """How many training images `spec`'s labels cover (None: unknown)."""
        if spec.run_dir in self._labelled:
            return self._labelled[spec.run_dir]
        record = runs_lib.read_record(spec.run_dir) or {}
        return LabelSize.from_record(record.get("labelled"))

    def rows(self, failed: Collection[str] = ()) -> list[ResultRow]:
        """This sweep's runs, then every other run recorded in the sweep folder."""
        planned = {spec.run_dir for spec in self.runs}
        others = [
            spec
            for spec in runs_lib.recorded_runs(self.out_dir)
            if spec.run_dir not in planned
        ]
        rows = []
        for spec in [*self.runs, *others]:
            status = runs_lib.run_status(spec.run_dir)
            if spec.run_dir in failed and status != "finished":
                status = "failed"
            accuracy = (
                final_test_accuracy(spec.run_dir) if status == "finished" else None
            )
            size = self.labelled(spec)
            rows.append(
                ResultRow(
                    spec.checkpoint,
                    spec.labels.name,
                    spec.seed,
                    status,
                    spec.run_dir,
                    accuracy,
                    size.text() if size else "",
                    run_folder.run_variant(spec.run_dir),
                )
            )
        return rows

    def write_tables(self, failed: Collection[str] = ()):
        rows = self.rows(failed)
        tables = write_results(rows, self.out_dir, title=self.config)
        plot_results(rows, self.out_dir, title=self.config)  # results.png
        return tables

    def run_local(self, spec: RunSpec) -> int:
        """One run in its own process; its output goes to `<run_dir>/launch.log`."""
        log = Path(spec.run_dir) / "launch.log"
        with log.open("w") as out:
            return subprocess.call(
                launcher_command(self.run_overrides(spec)),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def submit(self, spec: RunSpec) -> str:
        from seer_plugins.apps.launcher import launch_on_slurm
        from seer_plugins.config.compose import compose_with_args

        overrides = [
            *self.run_overrides(spec),
            "config.SLURM.USE_SLURM=true",
            override("config.SLURM.LOG_FOLDER", f"{spec.run_dir}/slurm"),
            f"config.SLURM.NAME=seer_{spec.checkpoint}_{spec.labels.name}_s{spec.seed}",
        ]
        args, config = compose_with_args(overrides, dump_config=True)
        # What the job will be, recorded now: a later sweep compares it before
        # the job has run (the job's first node claims the folder when it runs).
        run_folder.record_identity(
            spec.run_dir, args.engine_name, fingerprint(config, args.engine_name)
        )
        job = launch_on_slurm(config, args.engine_name, cluster=self.slurm_cluster)
        runs_lib.record_slurm_job(spec, str(job.job_id))
        return str(job.job_id)

    def execute(self) -> int:
        """Run (or submit) every pending run; returns 0 unless a run failed."""
        self.check_inputs()
        failed: set[str] = set()
        pending = PENDING + (("submitted",) if self.resubmit else ())
        total = len(self.runs)
        with tqdm(total=total, desc="sweep", unit="run", file=sys.stderr) as bar:
            for index, spec in enumerate(self.runs, start=1):
                prefix = f"[{index}/{total}] {spec.describe()}:"
                status = runs_lib.run_status(spec.run_dir)
                if status not in pending and spec not in self._changed:
                    tqdm.write(
                        f"{prefix} skipped ({status_text(spec.run_dir, status)})"
                    )
                    bar.update()
                    continue
                if spec in self._changed:
                    moved = runs_lib.supersede(spec, self.out_dir)
                    tqdm.write(
                        f"{prefix} overrides changed: earlier run moved to {moved}"
                    )
                    status = runs_lib.run_status(spec.run_dir)
                runs_lib.record_run(spec, self.run_overrides(spec), self.labelled(spec))
                if self.slurm:
                    tqdm.write(f"{prefix} submitted as job {self.submit(spec)}")
                else:
                    tqdm.write(f"{prefix} running ({status}) in {spec.run_dir}")
                    start = time.monotonic()
                    returncode = self.run_local(spec)
                    seconds = time.monotonic() - start
                    status = runs_lib.run_status(spec.run_dir)
                    if returncode or status != "finished":
                        failed.add(spec.run_dir)
                        tqdm.write(
                            f"{prefix} FAILED (exit {returncode}, {status}) after "
                            f"{seconds:.0f}s: see {spec.run_dir}/launch.log"
                        )
                    else:
                        text = status_text(spec.run_dir, status)
                        tqdm.write(f"{prefix} {text} in {seconds:.0f}s")
                self.write_tables(failed)
                bar.update()
        md, csv_path = self.write_tables(failed)
        tqdm.write(f"results: {md} and {csv_path}")
        return 1 if failed else 0


_SAID: set[str] = set()


def _say_once(text: str) -> None:
    """Print once per process (the demo's two sweeps share their label subsets)."""
    if text not in _SAID:
        _SAID.add(text)
        tqdm.write(text)


__all__ = ["Labels", "RunSpec", "Sweep"]
