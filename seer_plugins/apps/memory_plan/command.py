"""`seer plan`: does a config fit on N GPUs of G GB each, sharded or not?

    seer plan config=pretrain/seer_10b --gpus 496 --gpu-memory-gb 40
    seer plan config=pretrain/seer_1b --gpus 8 --gpu-memory-gb 80 --shard

The plan is of the config as it trains (sharded when `MODEL.SEER_FSDP.ENABLED`, as
`seer_10b`), unless `--shard` or `--no-shard` says otherwise; how each line is
obtained: :mod:`seer_plugins.apps.memory_plan.plan`. Exit status 0 if it fits, 1 if
not, 2 with one error line for bad input.
"""

import sys
from collections.abc import Sequence

from seer_plugins.apps.memory_plan.plan import __doc__ as plan_doc
from seer_plugins.apps.memory_plan.plan import format_plan, plan_memory
from seer_plugins.errors import ConfigError, OneLineArgumentParser, report

KINDS = {int: "an integer", float: "a number"}


def _positive(kind, key: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise ConfigError(
                key, text, "is not a positive number", f"{KINDS[kind]} > 0"
            )
        return value

    return parse


USAGE = (
    "config=NAME --gpus N --gpu-memory-gb G [--shard | --no-shard] [--batch B] "
    "[config.KEY=VALUE ...]"
)


def _parse(argv: Sequence[str]):
    overrides = [
        a for a in argv if a.startswith(("config=", "config.", "+config", "++config"))
    ]
    rest = [a for a in argv if a not in overrides]
    parser = OneLineArgumentParser(
        prog="seer plan",
        usage=f"seer plan {USAGE}",
        description=plan_doc.split("\n")[0],
        epilog="config=NAME and config.KEY=VALUE overrides as for `seer train`; "
        "exit status 0: it fits, 1: it does not, 2: bad input.",
    )
    parser.add_argument("--gpus", required=True, help="number of GPUs (all nodes)")
    parser.add_argument(
        "--gpu-memory-gb", required=True, help="memory of one GPU, GiB (e.g. 80)"
    )
    sharding = parser.add_mutually_exclusive_group()
    sharding.add_argument(
        "--shard",
        dest="sharded",
        action="store_const",
        const=True,
        help="plan it sharded (FSDP2), whatever the config says",
    )
    sharding.add_argument(
        "--no-shard",
        dest="sharded",
        action="store_const",
        const=False,
        help="plan it under DDP (default: as the config's MODEL.SEER_FSDP.ENABLED)",
    )
    parser.add_argument(
        "--batch", default=None, help="images per GPU (default: the config's)"
    )
    args = parser.parse_args(rest)
    if not any(o.startswith("config=") for o in overrides):
        raise ConfigError(
            "config", "", "is missing", "config=NAME, e.g. config=pretrain/seer_10b"
        )
    gpus = _positive(int, "--gpus")(args.gpus)
    memory = _positive(float, "--gpu-memory-gb")(args.gpu_memory_gb)
    batch = _positive(int, "--batch")(args.batch) if args.batch is not None else None
    return overrides, gpus, memory, args.sharded, batch


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0: it fits; 1: it does not; 2 with one error line: bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        overrides, gpus, memory, sharded, batch = _parse(argv)
        plan = plan_memory(overrides, gpus, memory, sharded, batch)
    except ConfigError as error:
        return report(error)
    print(format_plan(plan))
    return 0 if plan.fits else 1
