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
image side from its images (`--image-size`). This module only sequences
runs: every training is `tools/run_distributed_engines.py` in its own process,
planned, skipped when finished and read back by :mod:`seer_plugins.apps.sweep`.
Rerunning the same command resumes.
"""

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from seer_plugins.apps.sweep import runs as runs_lib
from seer_plugins.apps.sweep.sweep import Sweep, launcher_command
from seer_plugins.config.overrides import override

PRETRAIN_CONFIG = "pretrain/demo_digits"
# protocol name in results.json -> benchmark config
PROTOCOLS = {
    "linear": "benchmark/linear/digits",
    "finetune": "benchmark/low_shot/digits",
}
FRACTIONS = (0.01, 0.1)
# Two runs at a time, one thread each: the demo's 2-core budget. Measured there: a
# 1-epoch run takes ~14 s (mostly start-up), the configs' own 8 (linear) / 10
# (fine-tune) epochs 27 / 30 s at 10% of the labels, so their 24 runs take ~6 min
# and the configs' epochs are the default.
PARALLEL_RUNS = 2
DEFAULT_BENCHMARK_EPOCHS = None  # None: the configs' own
RUN_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# The configs' image side (digits at 32x32); another side is set by size_overrides.
CONFIG_IMAGE_SIZE = 32
# (config, split, transform index, name, key) of every image size in the configs.
SIZED_TRANSFORMS = {
    "pretrain": [("TRAIN", 0, "ImgPilToMultiCrop", "size_crops")],
    "benchmark": [
        ("TRAIN", 0, "RandomResizedCrop", "size"),
        ("TEST", 0, "Resize", "size"),
        ("TEST", 1, "CenterCrop", "size"),
    ],
}


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


def scaled_schedule(lr, epochs: int, default_epochs: int) -> list[str]:
    """Overrides fitting the multistep LR schedule `lr` of a `default_epochs` run to
    `epochs`: milestones scaled in proportion (distinct, in [1, epochs - 1]), one
    value per stage. VISSL rebuilds the values from base_value and their ratio."""
    milestones = sorted(
        {
            min(max(round(m * epochs / default_epochs), 1), epochs - 1)
            for m in lr.milestones
            if epochs > 1
        }
    )
    values = list(lr["values"])[: len(milestones) + 1]
    return [
        f"config.OPTIMIZER.num_epochs={epochs}",
        f"config.OPTIMIZER.param_schedulers.lr.milestones=[{','.join(map(str, milestones))}]",
        f"config.OPTIMIZER.param_schedulers.lr.values=[{','.join(map(repr, values))}]",
    ]


def finetune_head(pretrain_head, finetune_head_params) -> str:
    """The fine-tuning heads resized to the pretraining projection's first layer
    (`dims[:2]`), which they load: the benchmark's regnety_tiny model assumes a
    128 -> 64 projection, demo_digits may pretrain another width."""
    dims = list(pretrain_head[0][1]["dims"][:2])
    heads = [[name, dict(params)] for name, params in finetune_head_params]
    heads[0][1]["dims"] = dims
    heads[1][1]["dims"] = [dims[-1], *list(heads[1][1]["dims"])[1:]]
    return override("config.MODEL.HEAD.PARAMS", heads)


def size_overrides(kind: str, size: int) -> list[str]:
    """Overrides training the `kind` ("pretrain"/"benchmark") configs at `size`
    pixels: crops of `size`, test images resized to `size * 256 / 224` first
    (ImageNet's ratio); none at the configs' own size."""
    if size == CONFIG_IMAGE_SIZE:
        return []
    overrides = []
    for split, index, name, key in SIZED_TRANSFORMS[kind]:
        value = size * 256 // 224 if name == "Resize" else size
        value = [value] if key == "size_crops" else value
        overrides.append(f"config.DATA.{split}.TRANSFORMS.{index}.{key}={value}")
    return overrides


def check_sized_transforms(config, kind: str) -> None:
    """The transforms `size_overrides` writes to are where it expects them."""
    for split, index, name, key in SIZED_TRANSFORMS[kind]:
        transforms = config.DATA[split].TRANSFORMS
        if index >= len(transforms) or transforms[index].get("name") != name:
            raise RuntimeError(
                f"the demo resizes config.DATA.{split}.TRANSFORMS[{index}] ({name}."
                f"{key}), but the config's transforms are "
                f"{[t.get('name') for t in transforms]}: update SIZED_TRANSFORMS"
            )


def pretrain(
    out: Path, data: Path, epochs: int | None, extra: Sequence[str] = ()
) -> Path:
    """SwAV pretraining through the launcher; returns the final checkpoint."""
    ckpt_dir = out / "pretrain"
    phase = runs_lib.final_checkpoint_phase(ckpt_dir)
    if phase is None:
        overrides = [
            f"config={PRETRAIN_CONFIG}",
            f"config.DATA.TRAIN.DATA_PATHS=[{data}/train]",
            f"config.CHECKPOINT.DIR={ckpt_dir}",
            *extra,
        ]
        if epochs is not None:
            overrides.append(f"config.OPTIMIZER.num_epochs={epochs}")
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
        _stage(f"pretraining: skipped, {ckpt_dir} holds its final checkpoint")
    return ckpt_dir / f"model_final_checkpoint_phase{phase}.torch"


def random_init(out: Path, data: Path) -> Path:
    """The pretraining model as built, before any step: the random-init baseline."""
    from seer_plugins.apps.sweep.init_checkpoint import write_init_checkpoint

    path = out / "random_init" / "model_init.torch"
    if not path.is_file():
        overrides = [
            f"config={PRETRAIN_CONFIG}",
            f"config.DATA.TRAIN.DATA_PATHS=[{data}/train]",
        ]
        write_init_checkpoint(overrides, path)
    return path


# The benchmarks' accuracy meter reports top-1 and top-5 (configs/benchmark/base).
TOP_K = 5


def topk_overrides(data: Path) -> list[str]:
    """Top-1 only for a folder of fewer classes than top-5 needs."""
    from seer_plugins.apps.demo import folder

    if len(folder.class_images(data / "train")) >= TOP_K:
        return []
    return ["config.METERS.accuracy_list_meter.topk_values=[1]"]


def plan_sweeps(
    out: Path,
    data: Path,
    checkpoints: list[tuple[str, str]],
    seeds: Sequence[int],
    epochs: int | None,
    image_size: int = CONFIG_IMAGE_SIZE,
) -> dict[str, Sweep]:
    """One Sweep per protocol; both share `<out>/splits`, runs go to
    `<out>/<protocol>/<init>/<labels>/seed<seed>`."""
    from seer_plugins.config.compose import compose

    labels = [runs_lib.parse_labels(str(f)) for f in FRACTIONS]
    pretrain_head = compose([f"config={PRETRAIN_CONFIG}"]).MODEL.HEAD.PARAMS
    sweeps = {}
    for protocol, config in PROTOCOLS.items():
        overrides = [
            f"config.DATA.TRAIN.DATA_PATHS=[{data}/train]",
            f"config.DATA.TEST.DATA_PATHS=[{data}/val]",
            # 1% of digits is 14 images, less than one batch of 16
            "config.DATA.TRAIN.DROP_LAST=false",
            *size_overrides("benchmark", image_size),
            *topk_overrides(data),
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
        )
    return sweeps


def _run_one(sweep: Sweep, spec: runs_lib.RunSpec) -> tuple[int, float]:
    overrides = sweep.run_overrides(spec)
    runs_lib.record_run(spec, overrides)
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
    ]
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Rerunning the same command resumes: finished stages are skipped.",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="your images: DIR/<class>/<image> (20%% of each class become val, "
        "seeded) or DIR/train/<class>/... and DIR/val/<class>/... "
        "(default: scikit-learn's digits)",
    )
    parser.add_argument(
        "--out", default="demo_output", help="output folder (default: demo_output)"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        metavar="PX",
        help="side of the training crops (default: digits 32; a folder's median "
        "shorter side, a multiple of 32 in [32, 224])",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--pretrain-epochs", type=int, help=f"default: {PRETRAIN_CONFIG}'s own"
    )
    parser.add_argument(
        "--benchmark-epochs",
        type=int,
        default=DEFAULT_BENCHMARK_EPOCHS,
        help="epochs of every benchmark run, LR milestones scaled to fit "
        "(default: the configs' own)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: seed 0, 1 pretraining epoch, 1 benchmark epoch",
    )
    return parser


def _check_size(size: int) -> None:
    from seer_plugins.apps.demo import folder
    from seer_plugins.checks.errors import ConfigError

    if size < folder.MIN_SIZE or size % folder.STRIDE:
        raise ConfigError(
            "--image-size", size, "is not a multiple of 32 of at least 32", "e.g. 64"
        )


def _data(args, out: Path) -> tuple[Path, int]:
    """The data folder (train/, val/) and the image side, announced."""
    from seer_plugins.apps.demo import folder

    if args.image_size is not None:
        _check_size(args.image_size)  # before anything is written
    if args.data:
        data, text = folder.prepare(args.data, out / "data")
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


def pretrain_overrides(data: Path, size: int, epochs: int | None) -> list[str]:
    """Image size and, when the folder holds fewer training images than one batch
    (the pretraining drops a last partial batch), a smaller batch; says how long."""
    from seer_plugins.apps.demo import folder
    from seer_plugins.config.compose import compose

    overrides = size_overrides("pretrain", size)
    config = compose([f"config={PRETRAIN_CONFIG}", *overrides])
    check_sized_transforms(config, "pretrain")
    batch = config.DATA.TRAIN.BATCHSIZE_PER_REPLICA
    images = folder.train_images(data / "train")
    if images < batch:
        batch = 2 ** (images.bit_length() - 1)
        overrides.append(f"config.DATA.TRAIN.BATCHSIZE_PER_REPLICA={batch}")
    epochs = epochs or config.OPTIMIZER.num_epochs
    print(
        f"pretraining: {images} images, batch {batch}, {epochs} epochs = "
        f"{epochs * (images // batch)} iterations",
        flush=True,
    )
    return overrides


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.seeds, args.pretrain_epochs, args.benchmark_epochs = [0], 1, 1
    out = Path(args.out).resolve()
    start = time.monotonic()
    import seer_plugins  # noqa: F401  compat shims before VISSL is imported
    from seer_plugins.apps.demo import report as demo_report

    data, size = _data(args, out)
    extra = pretrain_overrides(data, size, args.pretrain_epochs)
    # The benchmark configs composed (and checked) before pretraining spends its
    # time: a refusal there would otherwise come after it.
    plan_sweeps(out, data, [], args.seeds, args.benchmark_epochs, image_size=size)
    seer = pretrain(out, data, args.pretrain_epochs, extra)
    _stage("random-init checkpoint")
    checkpoints = [("seer", str(seer)), ("random", str(random_init(out, data)))]
    sweeps = plan_sweeps(
        out, data, checkpoints, args.seeds, args.benchmark_epochs, image_size=size
    )
    _stage(f"low-shot splits in {out / 'splits'}")
    for sweep in sweeps.values():
        sweep.check_inputs()  # writes the split files that are missing
    failed = run_benchmarks(sweeps)
    _stage("results")
    records = demo_report.collect(sweeps)
    name = Path(args.data).name if args.data else "digits"
    demo_report.write_outputs(records, out, out / "pretrain", data_name=name)
    seconds = time.monotonic() - start
    demo_report.write_timing(out, seconds, vars(args))
    print(f"\ntotal wall time: {seconds / 60:.1f} min; outputs in {out}")
    return 1 if failed else 0
