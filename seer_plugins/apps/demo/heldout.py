"""The demo's fine-tuning scored on held-out training images, never on val: how a
change of the demo's recipe is chosen (docs/demo/experiments.md).

    python benchmarks/demo_heldout.py --out /tmp/h180 --pretrain-epochs 180 \
        --pretrain-seed 1
    python benchmarks/demo_heldout.py --out /tmp/h --checkpoint /runs/x.torch

For each split seed (0, 1, 2), fine-tunes (`benchmark/low_shot/digits`) on the
demo's 10% split file from the pretrained trunk ("seer") and from the demo's random
init, and tests on the training images *not* in that split
(`<out>/heldout/images_seed<s>/<class>/`, symlinks; 1,295 of digits' 1,438). Prints
mean ± std over seeds per init and seer's margin; writes
`<out>/heldout/results.json`. The pretraining is the demo's (same data, overrides
and `<out>/pretrain`), so `tools/run_demo.py --out <out>` with the same settings
reuses it; `--checkpoint` scores a given trunk instead. Reruns resume.
"""

import argparse
import json
import os
import statistics
from collections.abc import Sequence
from pathlib import Path

from seer_plugins.apps.demo import pipeline
from seer_plugins.apps.demo import report as demo_report
from seer_plugins.data.low_shot_split import (
    list_image_folder,
    make_low_shot_split,
    read_split_file,
    split_name,
)

FRACTION = 0.1  # the demo's closest call (README): fine-tuning at 10% of the labels


def heldout_folder(train: Path, split_file: Path, dest: Path) -> int:
    """Link every image of `train` (`<class>/<image>`) that `split_file` does not
    name into `dest/<class>/`; returns how many. Existing links are kept."""
    in_split = set(read_split_file(split_file))
    count = 0
    for image in list_image_folder(train):
        if image.entry in in_split:
            continue
        link = dest / image.label / Path(image.path).name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            os.symlink(Path(image.path).resolve(), link)
        count += 1
    return count


def split_and_heldout(data: Path, root: Path, seed: int) -> tuple[Path, int]:
    """The split file the demo would write for `seed` (same folder, fraction and
    seed, so the same images) under `root/splits/`, and its held-out folder."""
    name = split_name(fraction=FRACTION)
    split_file = root / "splits" / f"{name}_seed{seed}.txt"
    if not split_file.is_file():
        make_low_shot_split(data / "train", split_file, fraction=FRACTION, seed=seed)
    dest = root / f"images_seed{seed}"
    return dest, heldout_folder(data / "train", split_file, dest)


def plan(
    root: Path,
    data: Path,
    checkpoints: list[tuple[str, str]],
    seeds: Sequence[int],
    epochs: int | None,
    image_size: int,
) -> dict[str, pipeline.Sweep]:
    """One fine-tuning Sweep per split seed, each testing on its own held-out
    folder; runs go to `root/finetune/<init>/10percent/seed<s>`."""
    sweeps = {}
    for seed in seeds:
        test_dir, count = split_and_heldout(data, root, seed)
        print(f"split seed {seed}: {count} held-out training images in {test_dir}")
        sweeps[f"finetune_seed{seed}"] = pipeline.plan_sweeps(
            root,
            data,
            checkpoints,
            [seed],
            epochs,
            image_size=image_size,
            test_dir=test_dir,
            protocols={"finetune": pipeline.PROTOCOLS["finetune"]},
            fractions=(FRACTION,),
        )["finetune"]
    return sweeps


def summarize(records: list[dict]) -> dict[str, dict]:
    """init -> {mean, std, seeds} of top-1; "margin": seer's mean minus random's."""
    by_init = {}
    for init in sorted({r["init"] for r in records}):
        top1 = [r["top1"] for r in records if r["init"] == init]
        std = statistics.stdev(top1) if len(top1) > 1 else 0.0
        by_init[init] = {"mean": statistics.mean(top1), "std": std, "n": len(top1)}
    if {"seer", "random"} <= set(by_init):
        by_init["margin"] = by_init["seer"]["mean"] - by_init["random"]["mean"]
    return by_init


def format_summary(summary: dict[str, dict]) -> str:
    lines = [f"held-out fine-tuning at {FRACTION:.0%} of the labels, top-1 (%)"]
    for init, s in summary.items():
        if init != "margin":
            lines.append(
                f"{init:<8}{s['mean']:6.2f} ± {s['std']:5.2f}   {s['n']} seeds"
            )
    if "margin" in summary:
        lines.append(f"{'margin':<8}{summary['margin']:+6.2f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Rerunning the same command resumes: finished runs are skipped.",
    )
    parser.add_argument("--out", required=True, help="output folder (as the demo's)")
    parser.add_argument("--data", metavar="DIR", help="as the demo's --data")
    parser.add_argument("--image-size", type=int, metavar="PX", help="as the demo's")
    parser.add_argument("--pretrain-epochs", type=int, help="as the demo's")
    parser.add_argument("--pretrain-seed", type=int, metavar="N", help="as the demo's")
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="score this pretraining checkpoint instead of pretraining into --out",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--inits",
        nargs="+",
        choices=("seer", "random"),
        default=["seer", "random"],
        help="random init does not depend on the pretraining: score it once",
    )
    parser.add_argument("--benchmark-epochs", type=int, help="as the demo's")
    return parser


def _checkpoints(args, out: Path, data: Path, size: int) -> tuple[list, int | None]:
    """(name, path) of each init to score, and the pretraining's seed if ours."""
    checkpoints, seed = [], None
    if "seer" in args.inits:
        if args.checkpoint:
            path = Path(args.checkpoint).resolve()
        else:
            extra, seed = pipeline.pretrain_overrides(
                data, size, args.pretrain_epochs, args.pretrain_seed
            )
            path = pipeline.pretrain(out, data, args.pretrain_epochs, extra)
        checkpoints.append(("seer", str(path)))
    if "random" in args.inits:
        checkpoints.append(("random", str(pipeline.random_init(out, data))))
    return checkpoints, seed


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out).resolve()
    import seer_plugins  # noqa: F401  compat shims before VISSL is imported

    data, size = pipeline.prepare_data(args, out)
    checkpoints, seed = _checkpoints(args, out, data, size)
    root = out / "heldout"
    sweeps = plan(root, data, checkpoints, args.seeds, args.benchmark_epochs, size)
    for sweep in sweeps.values():
        sweep.check_inputs()
    failed = pipeline.run_benchmarks(sweeps)
    records = demo_report.collect(sweeps, pretrain_seed=seed)
    summary = summarize(records)
    content = {"settings": vars(args), "records": records, "summary": summary}
    (root / "results.json").write_text(json.dumps(content, indent=2) + "\n")
    print(format_summary(summary))
    return 1 if failed else 0
