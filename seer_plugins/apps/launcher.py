"""What `tools/run_distributed_engines.py` does: compose, then launch locally or on SLURM.

The local path is VISSL's `launch_distributed`. VISSL's SLURM path hard-codes its own
hook generator inside `_ResumableSlurmJob`, so the submitit job here is ours: the same
executor settings (`config.SLURM.*`), and our hook generator on every node.
"""

import importlib
import logging
import re
import sys
from collections.abc import Sequence

from torch.multiprocessing import ProcessRaisedException
from vissl.utils.distributed_launcher import launch_distributed
from vissl.utils.hydra_config import print_cfg
from vissl.utils.io import makedir

from seer_plugins.checks.errors import ConfigError, report
from seer_plugins.checks.preflight import preflight
from seer_plugins.config.compose import compose_with_args
from seer_plugins.hooks.registry import seer_hook_generator


class SeerSlurmJob:
    """A submitit job that runs VISSL's engine with our hooks; requeues on preemption."""

    def __init__(self, engine_name: str, config):
        self.engine_name = engine_name
        self.config = config

    def __call__(self):
        import submitit

        environment = submitit.JobEnvironment()
        self.config.DISTRIBUTED.INIT_METHOD = "tcp"
        self.config.DISTRIBUTED.RUN_ID = (
            f"{environment.hostnames[0]}:{self.config.SLURM.PORT_ID}"
        )
        launch_distributed(
            cfg=self.config,
            node_id=environment.global_rank,
            engine_name=self.engine_name,
            hook_generator=seer_hook_generator,
        )

    def checkpoint(self):
        """Called by submitit on preemption/timeout: resubmit the same job.

        With `CHECKPOINT.AUTO_RESUME=True` the requeued job resumes from the latest
        checkpoint in the same checkpoint folder.
        """
        import submitit

        return submitit.helpers.DelayedSubmission(
            SeerSlurmJob(self.engine_name, self.config)
        )


def launch_on_slurm(config, engine_name: str, cluster: str | None = None):
    """Submit the job with submitit. `cluster=None` lets submitit detect SLURM;
    tests pass `cluster="debug"` to run the same job in-process."""
    import submitit

    slurm = config.SLURM
    if not slurm.PARTITION and cluster is None:
        raise ConfigError(
            "config.SLURM.PARTITION",
            slurm.PARTITION,
            "is empty, and config.SLURM.USE_SLURM=true submits to a partition",
            "set config.SLURM.PARTITION=<partition>",
        )
    makedir(slurm.LOG_FOLDER)
    executor = submitit.AutoExecutor(folder=slurm.LOG_FOLDER, cluster=cluster)
    executor.update_parameters(
        name=slurm.NAME,
        timeout_min=slurm.TIME_HOURS * 60 + slurm.TIME_MINUTES,
        nodes=config.DISTRIBUTED.NUM_NODES,
        tasks_per_node=1,
        gpus_per_node=config.DISTRIBUTED.NUM_PROC_PER_NODE,
        cpus_per_task=slurm.NUM_CPU_PER_PROC * config.DISTRIBUTED.NUM_PROC_PER_NODE,
        mem_gb=slurm.MEM_GB,
        slurm_partition=slurm.PARTITION,
        slurm_comment=slurm.COMMENT,
        slurm_constraint=slurm.CONSTRAINT,
        slurm_additional_parameters=dict(slurm.ADDITIONAL_PARAMETERS or {}),
    )
    job = executor.submit(SeerSlurmJob(engine_name, config))
    print(f"SUBMITTED: {job.job_id} (logs in {slurm.LOG_FOLDER})")
    return job


def local_preflight(config) -> None:
    """The launcher's preflight, except for SLURM jobs: the nodes, not the submitting
    machine, have the GPUs and the data."""
    if not config.SLURM.USE_SLURM:
        preflight(config)


def main(overrides: Sequence[str]):
    """Compose `overrides` and run the selected engine (`engine_name`, default train)."""
    args, config = compose_with_args(overrides, dump_config=True, check=local_preflight)
    if config.VERBOSE:
        print_cfg(config)
    if config.SLURM.USE_SLURM:
        return launch_on_slurm(config, args.engine_name)
    logging.info("launching %s with seer_plugins hooks", args.engine_name)
    launch_distributed(
        cfg=config,
        node_id=args.node_id,
        engine_name=args.engine_name,
        hook_generator=seer_hook_generator,
    )


def worker_config_error(error: Exception) -> ConfigError | None:
    """The ConfigError a spawned worker raised, from torch's re-raised traceback."""
    text = str(error).strip().splitlines()
    last = text[-1] if text else ""
    match = re.match(r"^([\w.]+): (.*)$", last)
    if not match:
        return None
    module, _, name = match.group(1).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    if not (isinstance(cls, type) and issubclass(cls, ConfigError)):
        return None
    refused = ConfigError("", "", "")
    refused.args = (match.group(2),)
    return refused


def cli(argv: Sequence[str]) -> int:
    """`main` for the command line: a refused config or input is one `error:` line and
    exit status 2, whether found before the processes start or by a worker."""
    try:
        main(argv)
    except ConfigError as error:
        return report(error)
    except ProcessRaisedException as error:
        refused = worker_config_error(error)
        if refused is None:
            raise
        return report(refused)
    return 0


if __name__ == "__main__":
    # `python -m seer_plugins.apps.launcher ...` is `seer train ...`: the command
    # imports this module under its own name, so nothing is defined twice.
    from seer_plugins.cli import run

    sys.exit(run("train", sys.argv[1:]))
