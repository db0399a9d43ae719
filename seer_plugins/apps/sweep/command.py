"""`seer sweep`: one benchmark config over checkpoints x label subsets x seeds.

    seer sweep --config benchmark/low_shot/in1k \
        --checkpoint seer=/ckpt/seer.torch --checkpoint random=/ckpt/init.torch \
        --labels 1pct=/splits/1percent.txt --labels 10% --seeds 0 1 \
        --out /runs/low_shot -- config/benchmark/low_shot/models=regnety_256gf \
        config.DATA.TRAIN.DATA_PATHS=[/imagenet/train] \
        config.DATA.TEST.DATA_PATHS=[/imagenet/val]

What a sweep does, and its tables: :mod:`seer_plugins.apps.sweep.sweep`.
"""

from collections.abc import Sequence
from pathlib import Path

from seer_plugins.apps.sweep import runs as runs_lib
from seer_plugins.apps.sweep.sweep import Sweep
from seer_plugins.apps.sweep.sweep import __doc__ as sweep_doc
from seer_plugins.errors import ConfigError, OneLineArgumentParser, report


def build_parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        description=sweep_doc.split("\n\n")[0],
        epilog="Overrides for every run go last, after `--`.",
    )
    parser.add_argument(
        "--config", help="benchmark config, e.g. benchmark/linear/in1k (required)"
    )
    parser.add_argument(
        "--checkpoint",
        "-c",
        action="append",
        metavar="[NAME=]PATH",
        help="pretraining checkpoint (repeat; required); NAME defaults to its "
        "folder's name",
    )
    parser.add_argument(
        "--labels",
        "-l",
        action="append",
        metavar="SPEC",
        help="label subset (repeat): NAME=SPLIT_FILE, a fraction generated from the "
        "training folder (1%%, 0.1), Nperclass, or all (default: the config's own)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", required=True, help="sweep folder (runs, tables)")
    parser.add_argument("--slurm", action="store_true", help="submit runs to SLURM")
    parser.add_argument(
        "--resubmit", action="store_true", help="resubmit unfinished SLURM runs"
    )
    parser.add_argument(
        "--rerun-changed",
        action="store_true",
        help="rerun recorded runs whose overrides changed (the earlier run folder "
        "moves to OUT/superseded/); without it such a sweep is refused",
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: rebuild the tables from every run recorded in --out",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    return parser


def collect(out_dir: Path) -> tuple[Path, Path]:
    """The tables of every run recorded in `out_dir`, from disk alone."""
    specs = runs_lib.recorded_runs(out_dir)
    if not specs:
        raise ConfigError(
            "--out", str(out_dir), "holds no recorded runs", "is it a sweep folder?"
        )
    configs = sorted(
        {
            runs_lib.read_record(spec.run_dir)["identity"].get("config", "?")
            for spec in specs
        }
    )
    sweep = Sweep(config=", ".join(configs), runs=[], out_dir=out_dir, overrides=[])
    return sweep.write_tables()


def _sweep(args, slurm_cluster) -> int:
    out_dir = Path(args.out).resolve()
    if args.collect and not args.config and not args.checkpoint:
        md, csv_path = collect(out_dir)
        print(f"results: {md} and {csv_path}")
        return 0
    for name, value in (("--config", args.config), ("--checkpoint", args.checkpoint)):
        if not value:
            raise ConfigError(
                name,
                value,
                "is required to run a sweep",
                "(--collect --out alone rebuilds the tables)",
            )
    labels = [runs_lib.parse_labels(s) for s in args.labels or [runs_lib.ALL_LABELS]]
    checkpoints = [runs_lib.parse_checkpoint(s) for s in args.checkpoint]
    sweep = Sweep(
        config=args.config,
        runs=runs_lib.plan_runs(out_dir, checkpoints, labels, args.seeds),
        out_dir=out_dir,
        overrides=list(args.overrides),
        slurm=args.slurm,
        slurm_cluster=slurm_cluster,
        resubmit=args.resubmit,
        rerun_changed=args.rerun_changed,
    )
    if args.collect:
        md, csv_path = sweep.write_tables()
        print(f"results: {md} and {csv_path}")
        return 0
    return sweep.execute()


def main(argv: Sequence[str] | None = None, slurm_cluster: str | None = None) -> int:
    """The sweep from the command line: a refused input is one `error:` line, exit 2."""
    try:
        return _sweep(build_parser().parse_args(argv), slurm_cluster)
    except ConfigError as error:
        return report(error)
