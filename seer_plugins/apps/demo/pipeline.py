"""The demo: SEER end to end on scikit-learn's digits or your images, on a CPU.

    python tools/run_demo.py --out demo_output        # `make demo`
    python tools/run_demo.py --out /tmp/demo --quick  # 1 seed, 1 epoch each
    python tools/run_demo.py --data /my/images --out /tmp/mine  # your folder

Stages: export digits (or read `--data`, :mod:`seer_plugins.apps.demo.folder`:
one subfolder per class, or train/ and val/ holding them) -> SwAV pretraining
(`config=pretrain/demo_digits`) ->
low-shot split files -> linear evaluation and fine-tuning
(`config=benchmark/{linear,low_shot}/digits`) at 1% and 10% of the labels, from the
pretrained trunk ("seer") and from a freshly built one ("random") -> results.json,
a table and plots (:mod:`seer_plugins.apps.demo.report`). On a folder, the number
of classes comes from it (the benchmark configs' `${seer.num_classes:...}`) and the
image side from its images (`--image-size`). `--pretrain-seed N` pretrains with
another `config.SEED_VALUE` (the seer rows vary with it as much as across CPUs:
docs/demo/experiments.md). This module only sequences runs: every training is
`tools/run_distributed_engines.py` in its own process, planned, skipped when
finished and read back by :mod:`seer_plugins.apps.sweep`. Rerunning the same
command resumes. :mod:`seer_plugins.apps.demo.heldout` scores the fine-tuning on
held-out training images instead of val, to choose the recipe.
"""

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from seer_plugins.apps.demo.options import build_parser
from seer_plugins.apps.demo.overrides import (
    CONFIG_IMAGE_SIZE,
    PRETRAIN_CONFIG,
    check_sized_transforms,
    finetune_head,
    reading_overrides,
    scaled_schedule,
    size_overrides,
    topk_overrides,
)
from seer_plugins.apps.sweep import runs as runs_lib
from seer_plugins.apps.sweep.sweep import Sweep, launcher_command
from seer_plugins.config.overrides import override
from seer_plugins.runs import run_folder
from seer_plugins.runs.fingerprint import describe

# protocol name in results.json -> benchmark config
PROTOCOLS = {
    "linear": "benchmark/linear/digits",
    "finetune": "benchmark/low_shot/digits",
}
FRACTIONS = (0.01, 0.1)
# Two runs at a time, one thread each: the demo's 2-core budget. Measured there: a
# 1-epoch run takes ~14 s (mostly start-up); with the configs' own epochs (the
# default) the 24 runs took 209 s (2026-12-01), 13-26 s each.
PARALLEL_RUNS = 2
RUN_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _stage(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def _stream(cmd: list[str], log: Path, env: dict) -> int:
    """Run `cmd`, copying its output (tqdm's `\\r` updates included) to our stdout
    and to `log` as it comes."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        while chunk := os.read(proc.stdout.fileno(), 4096):
            out.write(chunk)
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        return proc.wait()


def pretrain_run_overrides(
    out: Path, data: Path, epochs: int | None, extra: Sequence[str] = ()
) -> list[str]:
    """The launcher's overrides for the demo's pretraining, into `out/pretrain`."""
    overrides = [
        f"config={PRETRAIN_CONFIG}",
        override("config.DATA.TRAIN.DATA_PATHS", [f"{data}/train"]),
        override("config.CHECKPOINT.DIR", str(out / "pretrain")),
        *extra,
    ]
    if epochs is not None:
        overrides.append(f"config.OPTIMIZER.num_epochs={epochs}")
    return overrides


def pretrain(
    out: Path,
    data: Path,
    epochs: int | None,
    extra: Sequence[str] = (),
    rerun_changed: bool = False,
) -> Path:
    """SwAV pretraining through the launcher; returns the final checkpoint. A
    finished pretraining in `out` is reused when its fingerprint is this one's
    (config, data: :mod:`seer_plugins.runs.fingerprint`); another is refused, or
    with `rerun_changed` moved to `<out>/superseded/` and made again."""
    from seer_plugins.config.compose import compose
    from seer_plugins.errors import ConfigError

    ckpt_dir = out / "pretrain"
    overrides = pretrain_run_overrides(out, data, epochs, extra)
    if run_folder.holds_a_run(ckpt_dir):
        changed = run_folder.changes(ckpt_dir, compose(overrides), "train")
        if changed and not rerun_changed:
            raise ConfigError(
                "--out",
                str(out),
                f"{ckpt_dir} holds a pretraining of other config or data: "
                f"{describe(changed[0])}",
                "add --rerun-changed to make it again (the old one moves to "
                f"{out / runs_lib.SUPERSEDED}/), or use another --out",
            )
        if changed:
            moved = runs_lib.supersede(ckpt_dir, out)
            _stage(f"pretraining: config or data changed, earlier one moved to {moved}")
    phase = runs_lib.final_checkpoint_phase(ckpt_dir)
    if phase is None:
        _stage(f"pretraining ({' '.join(overrides)})")
        # One thread unless told otherwise: with a second process on 2 cores,
        # torch's default two threads ran 20x slower (7.7 vs 158 img/s).
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        code = _stream(launcher_command(overrides), ckpt_dir / "launch.log", env)
        phase = runs_lib.final_checkpoint_phase(ckpt_dir)
        if code or phase is None:
            raise RuntimeError(
                f"pretraining failed (exit {code}): see {ckpt_dir}/launch.log"
            )
    else:
        _stage(f"pretraining: skipped, {ckpt_dir} holds this one, finished")
    return ckpt_dir / f"model_final_checkpoint_phase{phase}.torch"


def random_init(out: Path, data: Path) -> Path:
    """The pretraining model as built, before any step: the random-init baseline."""
    from seer_plugins.apps.sweep.init_checkpoint import write_init_checkpoint

    path = out / "random_init" / "model_init.torch"
    if not path.is_file():
        overrides = [
            f"config={PRETRAIN_CONFIG}",
            override("config.DATA.TRAIN.DATA_PATHS", [f"{data}/train"]),
        ]
        write_init_checkpoint(overrides, path)
    return path


def plan_sweeps(
    out: Path,
    data: Path,
    checkpoints: list[tuple[str, str]],
    seeds: Sequence[int],
    epochs: int | None,
    image_size: int = CONFIG_IMAGE_SIZE,
    test_dir: Path | None = None,
    protocols: dict[str, str] = PROTOCOLS,
    fractions: Sequence[float] = FRACTIONS,
    extra: Sequence[str] = (),
    rerun_changed: bool = False,
) -> dict[str, Sweep]:
    """One Sweep per protocol; all share `<out>/splits`, runs go to
    `<out>/<protocol>/<init>/<labels>/seed<seed>`. They test on `<data>/val`, or on
    `test_dir` (the held-out evaluation's training images outside the split)."""
    from seer_plugins.config.compose import compose

    labels = [runs_lib.parse_labels(str(f)) for f in fractions]
    pretrain_head = compose([f"config={PRETRAIN_CONFIG}"]).MODEL.HEAD.PARAMS
    test_dir = test_dir or data / "val"
    sweeps = {}
    for protocol, config in protocols.items():
        overrides = [
            override("config.DATA.TRAIN.DATA_PATHS", [f"{data}/train"]),
            override("config.DATA.TEST.DATA_PATHS", [str(test_dir)]),
            # 1% of digits is 14 images, less than one batch of 16
            "config.DATA.TRAIN.DROP_LAST=false",
            *size_overrides("benchmark", image_size),
            *topk_overrides(data),
            *extra,
        ]
        benchmark = compose([f"config={config}", *overrides])
        check_sized_transforms(benchmark, "benchmark")
        if protocol == "finetune":
            overrides.append(finetune_head(pretrain_head, benchmark.MODEL.HEAD.PARAMS))
        if epochs is not None:
            optimizer = benchmark.OPTIMIZER
            lr = optimizer.param_schedulers.lr
            overrides += scaled_schedule(lr, epochs, optimizer.num_epochs)
        sweeps[protocol] = Sweep(
            config=config,
            runs=runs_lib.plan_runs(out / protocol, checkpoints, labels, list(seeds)),
            out_dir=out,  # splits/ here, shared by both protocols
            overrides=overrides,
            merge_labels=True,  # a small folder's 1% may be its 10%: one row
            rerun_changed=rerun_changed,
        )
    return sweeps


def _run_one(sweep: Sweep, spec: runs_lib.RunSpec) -> tuple[int, float]:
    overrides = sweep.run_overrides(spec)
    runs_lib.record_run(spec, overrides, sweep.labelled(spec))
    start = time.monotonic()
    with (Path(spec.run_dir) / "launch.log").open("w") as log:
        code = subprocess.call(
            launcher_command(overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **RUN_ENV},
        )
    return code, time.monotonic() - start


def run_benchmarks(sweeps: dict[str, Sweep], parallel: int = PARALLEL_RUNS) -> int:
    """Every pending run of every sweep, `parallel` at a time; returns #failed."""
    jobs = [
        (protocol, sweep, spec)
        for protocol, sweep in sweeps.items()
        for spec in sweep.runs
        if runs_lib.run_status(spec.run_dir) in ("new", "partial")
        or spec in sweep.changed
    ]
    for protocol, sweep, spec in jobs:
        if spec in sweep.changed:  # --rerun-changed: the earlier run moves aside
            moved = runs_lib.supersede(spec, sweep.out_dir)
            print(
                f"{protocol} / {spec.describe()}: config or inputs changed, "
                f"earlier run moved to {moved}"
            )
    total = sum(len(s.runs) for s in sweeps.values())
    _stage(f"benchmarks: {len(jobs)} of {total} runs to do, {parallel} at a time")
    failed = 0
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {}
        for job in jobs:
            futures[pool.submit(_run_one, job[1], job[2])] = job
            time.sleep(0.5)  # stagger: each launcher picks a free port for gloo
        for done, future in enumerate(as_completed(futures), start=1):
            protocol, _, spec = futures[future]
            code, seconds = future.result()
            status = runs_lib.run_status(spec.run_dir)
            text = f"[{done}/{len(jobs)}] {protocol} / {spec.describe()}:"
            if code or status != "finished":
                failed += 1
                print(
                    f"{text} FAILED (exit {code}, {status}): {spec.run_dir}/launch.log"
                )
            else:
                from seer_plugins.apps.sweep.results import final_test_accuracy

                top1 = final_test_accuracy(spec.run_dir).top1
                print(f"{text} top-1 {top1:.2f} in {seconds:.0f}s", flush=True)
    return failed


def _check_size(size: int) -> None:
    from seer_plugins.apps.demo import folder
    from seer_plugins.errors import ConfigError

    if size < folder.MIN_SIZE or size % folder.STRIDE:
        raise ConfigError(
            "--image-size", size, "is not a multiple of 32 of at least 32", "e.g. 64"
        )


def prepare_data(args, out: Path) -> tuple[Path, int]:
    """The data folder (train/, val/) and the image side, announced."""
    from seer_plugins.apps.demo import folder

    if args.image_size is not None:
        _check_size(args.image_size)  # before anything is written
    if args.data:
        folder.check_out_apart(args.data, out)  # before anything is written
        # A changed folder is split again only when nothing was made from the old
        # split yet, or when asked to redo what was (--rerun-changed).
        may_split_again = args.rerun_changed or not run_folder.holds_a_run(
            out / "pretrain"
        )
        data, text = folder.prepare(
            args.data, out / "data", may_split_again=may_split_again
        )
        _stage(f"data: {text}")
        size = args.image_size or folder.image_size(data / "train")
    else:
        from seer_plugins.data.digits import export_digits

        data = out / "data"
        _stage(f"exporting digits to {data}")
        print(export_digits(data))
        size = args.image_size or CONFIG_IMAGE_SIZE
    _check_size(size)
    print(f"images: {size}x{size} crops", flush=True)
    return data, size


def pretrain_overrides(
    data: Path,
    size: int,
    epochs: int | None,
    seed: int | None = None,
    extra: Sequence[str] = (),
) -> tuple[list[str], int]:
    """Image size, seed and, when the folder holds fewer training images than one
    batch (the pretraining drops a last partial batch), a smaller batch; says how
    long. Returns the overrides and the seed they pretrain with."""
    from seer_plugins.apps.demo import folder
    from seer_plugins.config.compose import compose

    overrides = [*size_overrides("pretrain", size), *extra]
    if seed is not None:
        overrides.append(f"config.SEED_VALUE={seed}")
    config = compose([f"config={PRETRAIN_CONFIG}", *overrides])
    check_sized_transforms(config, "pretrain")
    batch = config.DATA.TRAIN.BATCHSIZE_PER_REPLICA
    images = folder.train_images(data / "train")
    if images < batch:
        batch = 2 ** (images.bit_length() - 1)
        overrides.append(f"config.DATA.TRAIN.BATCHSIZE_PER_REPLICA={batch}")
    epochs = epochs or config.OPTIMIZER.num_epochs
    print(
        f"pretraining: {images} images, batch {batch}, {epochs} "
        f"epoch{'s' if epochs != 1 else ''} = "
        f"{epochs * (images // batch)} iterations, seed {config.SEED_VALUE}",
        flush=True,
    )
    return overrides, int(config.SEED_VALUE)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(__doc__).parse_args(argv)
    reading = reading_overrides(args.intensity)
    out = Path(args.out).resolve()
    if args.quick:
        args.seeds, args.pretrain_epochs, args.benchmark_epochs = [0], 1, 1
        out = out / "quick"  # its own runs: the full run never takes them for its own
        print(f"--quick: a smoke test in {out}")
    start = time.monotonic()
    import seer_plugins  # noqa: F401  compat shims before VISSL is imported
    from seer_plugins.apps.demo import report as demo_report

    data, size = prepare_data(args, out)
    extra, seed = pretrain_overrides(
        data, size, args.pretrain_epochs, args.pretrain_seed, reading
    )
    # The benchmark configs composed (and checked) before pretraining spends its
    # time: a refusal there would otherwise come after it.
    plan_sweeps(
        out, data, [], args.seeds, args.benchmark_epochs, image_size=size, extra=reading
    )
    stages = {}
    stage_start = time.monotonic()
    seer = pretrain(out, data, args.pretrain_epochs, extra, args.rerun_changed)
    stages["pretrain"] = time.monotonic() - stage_start
    _stage("random-init checkpoint")
    checkpoints = [("seer", str(seer)), ("random", str(random_init(out, data)))]
    sweeps = plan_sweeps(
        out,
        data,
        checkpoints,
        args.seeds,
        args.benchmark_epochs,
        image_size=size,
        extra=reading,
        rerun_changed=args.rerun_changed,
    )
    _stage(f"low-shot splits in {out / 'splits'}")
    for sweep in sweeps.values():
        sweep.check_inputs()  # writes the split files that are missing
    stage_start = time.monotonic()
    failed = run_benchmarks(sweeps)
    stages["benchmarks"] = time.monotonic() - stage_start
    _stage("results")
    records = demo_report.collect(sweeps, pretrain_seed=seed)
    name = Path(args.data).name if args.data else "digits"
    demo_report.write_outputs(records, out, out / "pretrain", data_name=name)
    seconds = time.monotonic() - start
    demo_report.write_timing(out, seconds, vars(args), stages)
    print(f"\ntotal wall time: {seconds / 60:.1f} min; outputs in {out}")
    return 1 if failed else 0
