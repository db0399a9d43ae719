"""`seer plan`: does a config fit on N GPUs of G GB each, sharded or not?

    seer plan config=pretrain/seer_10b --gpus 496 --gpu-memory-gb 40
    seer plan config=pretrain/seer_1b --gpus 8 --gpu-memory-gb 80 --shard
    seer plan --simulate config=pretrain/seer_10b [--json]

The plan is of the config as it trains (sharded when `MODEL.SEER_FSDP.ENABLED`, as
`seer_10b`), unless `--shard` or `--no-shard` says otherwise, on the config's number
of processes unless `--gpus` says otherwise, against 80 GiB GPUs unless
`--gpu-memory-gb` says otherwise. By arithmetic (:mod:`.plan`), and with
`--simulate` also by two training steps on fake tensors under torch's memory
tracker (:mod:`.simulate`), which then decides whether it fits. Exit status 0 if it
fits, 1 if not, 2 with one error line for bad input.
"""

import json
import math
import sys
from collections.abc import Sequence

from seer_plugins.apps.memory_plan.plan import __doc__ as plan_doc
from seer_plugins.apps.memory_plan.plan import format_plan, plan_memory
from seer_plugins.apps.memory_plan.report import plan_json, simulation_table
from seer_plugins.apps.memory_plan.simulate import simulate
from seer_plugins.config.compose import compose
from seer_plugins.config.derived import world_size
from seer_plugins.errors import ConfigError, OneLineArgumentParser, report

KINDS = {int: "an integer", float: "a number"}


def _positive(kind, key: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            raise ConfigError(
                key, text, "is not a positive number", f"{KINDS[kind]} > 0"
            )
        return value

    return parse


USAGE = (
    "config=NAME [--gpus N] [--gpu-memory-gb G] [--shard | --no-shard] [--batch B] "
    "[--simulate] [--json] [config.KEY=VALUE ...]"
)
DEFAULT_GPU_MEMORY_GIB = 80.0


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
    parser.add_argument(
        "--gpus",
        help="number of GPUs, all nodes (default: the config's "
        "DISTRIBUTED.NUM_NODES x NUM_PROC_PER_NODE)",
    )
    parser.add_argument(
        "--gpu-memory-gb",
        default=str(DEFAULT_GPU_MEMORY_GIB),
        help="memory of one GPU in GiB (default: 80, for an 80 GB H100 or A100)",
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
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="also run two training steps of the job on fake tensors, one rank of "
        "a fake world of --gpus ranks, under torch's memory tracker (seconds to "
        "a minute on a CPU); whether it fits is then the simulation's",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object, not the table"
    )
    args = parser.parse_args(rest)
    if not any(o.startswith("config=") for o in overrides):
        raise ConfigError(
            "config", "", "is missing", "config=NAME, e.g. config=pretrain/seer_10b"
        )
    gpus = _positive(int, "--gpus")(args.gpus) if args.gpus is not None else None
    memory = _positive(float, "--gpu-memory-gb")(args.gpu_memory_gb)
    batch = _positive(int, "--batch")(args.batch) if args.batch is not None else None
    return overrides, gpus, memory, args.sharded, batch, args.simulate, args.json


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0: it fits; 1: it does not; 2 with one error line: bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        overrides, gpus, memory, sharded, batch, simulating, as_json = _parse(argv)
        gpus = gpus or world_size(compose(overrides))
        plan = plan_memory(overrides, gpus, memory, sharded, batch)
        simulation = None
        if simulating:
            if not as_json:
                print(
                    f"simulating 2 training steps of {plan.config} on rank 0 of "
                    f"{gpus} (fake tensors)...",
                    flush=True,
                )
            simulation = simulate(overrides, gpus, plan.sharded, plan.batch)
    except ConfigError as error:
        return report(error)
    if as_json:
        result = plan_json(plan, simulation)
        print(json.dumps(result))
        return 0 if result["fits"] else 1
    print(simulation_table(plan, simulation) if simulation else format_plan(plan))
    fits = simulation.fits(memory) if simulation else plan.fits
    return 0 if fits else 1
