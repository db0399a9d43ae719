"""The command line of `seer demo` (:mod:`seer_plugins.apps.demo.pipeline` runs it)."""

from seer_plugins.apps.demo.overrides import PRETRAIN_CONFIG
from seer_plugins.errors import OneLineArgumentParser

DEFAULT_BENCHMARK_EPOCHS = None  # None: the configs' own


def build_parser(pipeline_doc: str) -> OneLineArgumentParser:
    """The parser; `pipeline_doc`'s first paragraph describes the command."""
    parser = OneLineArgumentParser(
        description=pipeline_doc.split("\n\n")[0],
        epilog="Rerunning the same command resumes: finished stages are skipped; "
        "a stage whose config or inputs changed is refused (--rerun-changed).",
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
        "--pretrain-seed",
        type=int,
        metavar="N",
        help=f"the pretraining's config.SEED_VALUE (default: {PRETRAIN_CONFIG}'s "
        "own, 0); the random-init trunk keeps the config's",
    )
    parser.add_argument(
        "--benchmark-epochs",
        type=int,
        default=DEFAULT_BENCHMARK_EPOCHS,
        help="epochs of every benchmark run, LR milestones scaled to fit "
        "(default: the configs' own)",
    )
    parser.add_argument(
        "--intensity",
        metavar="MODE",
        help="how images wider than 8 bits are read, in pretraining and benchmarks: "
        "dtype (default), minmax, or window:LOW:HIGH (README, 'Your images')",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: seed 0, 1 pretraining epoch, 1 benchmark epoch, in "
        "OUT/quick (the full run never reuses it)",
    )
    parser.add_argument(
        "--rerun-changed",
        action="store_true",
        help="redo the pretraining and the benchmark runs whose config or inputs "
        "(images, weights, splits) changed since OUT holds them; their folders move "
        "to OUT/superseded/ (without it they are refused)",
    )
    return parser
