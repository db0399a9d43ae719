"""`seer train` (`tools/run_distributed_engines.py`): compose, then launch locally or
on SLURM.

The local path is VISSL's `launch_distributed`. VISSL's SLURM path hard-codes its own
hook generator inside `_ResumableSlurmJob`, so the submitit job here is ours: the same
executor settings (`config.SLURM.*`), and our hook generator on every node.
"""

import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from torch.multiprocessing import ProcessRaisedException
from vissl.utils.distributed_launcher import launch_distributed
from vissl.utils.hydra_config import print_cfg
from vissl.utils.io import makedir

from seer_plugins.apps.launch_outcome import (
    SAID_ELSEWHERE_WAIT_S,
    first_on_node,
    interrupted,
    tell_torchrun,
    worker_config_error,
    worker_exception,
)
from seer_plugins.apps.per_rank_launch import run_this_rank
from seer_plugins.apps.rank_environment import rank_environment
from seer_plugins.checks.preflight import preflight
from seer_plugins.config.compose import compose_with_args
from seer_plugins.errors import EXIT_STATUS, MISSING, ConfigError, report
from seer_plugins.hooks.registry import seer_hook_generator
from seer_plugins.runs.run_folder import RunClaim, claim_run_folder
from seer_plugins.trainer.stop_signals import (
    TrainingInterrupted,
    forwarding_stop_signals,
    received_signal,
)


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
        # The first node holds the run folder's lock for the job's life; a
        # requeued job has the same fingerprint, and resumes.
        claim = None
        if environment.global_rank == 0:
            claim = claim_run_folder(self.config, self.engine_name)
        try:
            launch_distributed(
                cfg=self.config,
                node_id=environment.global_rank,
                engine_name=self.engine_name,
                hook_generator=seer_hook_generator,
            )
        finally:
            if claim is not None:
                claim.release()

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


def main(overrides: Sequence[str], restart: bool = False):
    """Compose `overrides` and run the selected engine (`engine_name`, default train).

    Before anything is written, the run folder is claimed
    (:mod:`seer_plugins.runs.run_folder`): locked for this job, and checked to hold
    this run or none (`restart` moves an earlier one aside).
    """
    try:
        per_rank = rank_environment()
    except ConfigError as error:
        # Every task finds the same: the node's first one says it.
        error.said_elsewhere = not first_on_node()
        raise
    if per_rank is not None:
        return run_this_rank(overrides, per_rank, restart=restart)
    claims: list[RunClaim] = []

    def claim(args):
        # One node claims a multi-node job's folder; SLURM's first node claims it
        # again, and holds it, when the job runs.
        if args.node_id == 0:
            claims.append(
                claim_run_folder(args.config, args.engine_name, restart=restart)
            )

    try:
        args, config = compose_with_args(
            overrides, dump_config=True, check=local_preflight, claim=claim
        )
        if config.VERBOSE:
            print_cfg(config)
        if config.SLURM.USE_SLURM:
            for held in claims:
                held.release()
            return launch_on_slurm(config, args.engine_name)
        if claims and claims[0].finished:
            print(
                f"{config.CHECKPOINT.DIR} holds this run, finished (same config and "
                "inputs): nothing to do; --restart runs it again"
            )
            return None
        logging.info("launching %s with seer_plugins hooks", args.engine_name)
        with forwarding_stop_signals():
            launch_distributed(
                cfg=config,
                node_id=args.node_id,
                engine_name=args.engine_name,
                hook_generator=seer_hook_generator,
            )
    finally:
        for held in claims:
            held.release()


def cli(argv: Sequence[str], restart: bool = False) -> int:
    """`main` for the command line: a refused config or input is one `error:` line and
    exit status 2, whether found before the processes start or by a worker; a run
    stopped by SIGINT / SIGTERM (with its checkpoint) exits 130 / 143."""
    try:
        main(argv, restart=restart)
    except ConfigError as error:
        if getattr(error, "said_elsewhere", False):
            # Said by the first process of this node; a moment for it to say it
            # before the launcher, seeing this one exit, stops the others.
            time.sleep(SAID_ELSEWHERE_WAIT_S)
            tell_torchrun(error)
            return EXIT_STATUS
        status = report(error)
        tell_torchrun(error)
        return status
    except TrainingInterrupted as stopped:
        status = interrupted(str(stopped), stopped.signum)
        tell_torchrun(stopped)
        return status
    except ProcessRaisedException as error:
        refused = worker_config_error(error)
        if refused is not None:
            return report(refused)
        found = worker_exception(error)
        if found is not None and issubclass(found[0], TrainingInterrupted):
            signum = received_signal() or signal.SIGTERM
            return interrupted(found[1], signum)
        raise
    except RuntimeError as error:
        # A refusal raised in a data loader worker of this process (a shard that
        # disagrees with its index): torch re-raises it as a RuntimeError.
        refused = worker_config_error(error)
        if refused is not None:
            return report(refused)
        raise
    return 0


TRAIN_USAGE = """\
usage: seer train [--list] [--config-dir DIR] [--restart] config=NAME [OVERRIDE ...]

Compose a config and run it with VISSL's engine and the seer_plugins hooks,
locally (config.DISTRIBUTED.*) or on SLURM (config.SLURM.USE_SLURM=true). The
overrides are VISSL's own launcher's (Hydra's grammar):

  config=NAME          the config: ours (pretrain/seer_tiny, benchmark/linear/digits)
                       or VISSL's (test/cpu_test/test_cpu_regnet_simclr)
  config.KEY=VALUE     set a key, e.g. config.OPTIMIZER.num_epochs=2
  ++config.KEY=VALUE   set a key no default defines
  +config/GROUP=NAME   add a config fragment, e.g. +config/pretrain/seer/runtime=cpu
  engine_name=NAME     train (default), extract_features, seer_knn, ...

options:
  -h, --help           show this help and exit
  --list               list the configs, model presets and engines, and exit
  --restart            move an earlier run in config.CHECKPOINT.DIR to
                       CHECKPOINT.DIR/superseded/<time>/ and start afresh (without
                       it, a folder holding a run of other config or inputs is
                       refused; one of the same resumes, or extends to more epochs)
  --config-dir DIR     also search DIR for configs (repeatable; as SEER_CONFIG_PATH):
                       DIR/config/<group>/<name>.yaml (VISSL's layout) or
                       DIR/<group>/<name>.yaml (ours)

Under torchrun or srun (one process per rank), each process runs its own rank,
with the layout from the launcher (README: "Every cluster's launcher"):

  torchrun --standalone --nproc_per_node=8 tools/run_distributed_engines.py \\
      config=pretrain/seer_1b
  srun python tools/run_distributed_engines.py config=pretrain/seer_1b  (sbatch,
      --ntasks-per-node=<GPUs per node>)

examples:
  seer train config=pretrain/seer_tiny
  seer train config=pretrain/demo_digits config.DATA.TRAIN.DATA_PATHS=[/data/train]
  seer train --config-dir ~/myproject/configs config=myproject/pretrain
"""

# Folders of configs/ holding fragments that other configs include, not entries.
FRAGMENT_DIRS = {"base", "data", "models", "runtime", "seer"}


def _train_options(argv: Sequence[str]) -> tuple[dict, list[str]]:
    """Split `--list`, `--config-dir DIR` and `-h` from the Hydra overrides."""
    options = {"help": False, "list": False, "restart": False, "config_dirs": []}
    overrides = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            options["help"] = True
        elif arg == "--list":
            options["list"] = True
        elif arg == "--restart":
            options["restart"] = True
        elif arg == "--config-dir" or arg.startswith("--config-dir="):
            value = (
                arg.partition("=")[2] if "=" in arg else (args.pop(0) if args else "")
            )
            options["config_dirs"].append(value)
        elif arg.startswith("--"):
            raise ConfigError(
                "option",
                arg,
                "unknown",
                "valid: --list, --config-dir DIR, --restart, --help",
            )
        else:
            overrides.append(arg)
    return options, overrides


def add_config_dirs(folders: Sequence[str]) -> None:
    """Put `folders` first on `SEER_CONFIG_PATH` for this process and its children."""
    from seer_plugins.config.compose import CONFIG_PATH_ENV

    resolved = []
    for folder in folders:
        if not folder or not Path(folder).expanduser().is_dir():
            raise ConfigError(
                "--config-dir",
                folder,
                "is not a folder",
                "give a folder of YAML configs",
            )
        resolved.append(str(Path(folder).expanduser().resolve()))
    current = os.environ.get(CONFIG_PATH_ENV, "")
    os.environ[CONFIG_PATH_ENV] = os.pathsep.join([*resolved, *filter(None, [current])])


def _yaml_names(root: Path, skip=()) -> list[str]:
    return sorted(
        str(p.relative_to(root).with_suffix(""))
        for p in root.rglob("*.yaml")
        if not set(p.relative_to(root).parts[:-1]) & set(skip)
    )


def config_listing() -> str:
    """Our configs (entries, fragments), projects', VISSL's, presets, engines."""
    from vissl.engines.engine_registry import _ENGINE_REGISTRY

    import configs as vissl_configs  # VISSL's wheel installs its YAML as `configs`
    from seer_plugins.config.compose import project_searchpath
    from seer_plugins.config.paths import DEFAULTS_FOLDER, configs_dir
    from seer_plugins.models.regnet_params import PRESETS

    ours = _yaml_names(configs_dir(), skip={DEFAULTS_FOLDER})
    fragment = [n for n in ours if FRAGMENT_DIRS & set(n.split("/")[:-1])]
    sections = [
        ("seer_plugins configs (config=NAME)", [n for n in ours if n not in fragment]),
        ("seer_plugins fragments (included by the configs above)", fragment),
    ]
    for entry in project_searchpath():
        root = Path(entry.split("://", 1)[1])
        root = root / "config" if entry.startswith("file://") else root
        sections.append((f"project configs in {root}", _yaml_names(root)))
    stock = Path(vissl_configs.__file__).parent / "config"
    sections += [
        (f"VISSL's stock configs in {stock}", _yaml_names(stock)),
        ("model presets (config.MODEL.TRUNK.SEER_REGNET.preset=NAME)", list(PRESETS)),
        # VISSL keeps its engines in a private dict, without a listing function.
        ("engines (engine_name=NAME)", sorted(_ENGINE_REGISTRY)),
    ]
    return "\n\n".join(
        f"{title}:\n" + "\n".join(f"  {name}" for name in names)
        for title, names in sections
    )


def train(argv: Sequence[str]) -> int:
    """`seer train`: the launcher (tools/run_distributed_engines.py)."""
    options, overrides = _train_options(argv)
    if options["help"]:
        print(TRAIN_USAGE, end="")
        return 0
    add_config_dirs(options["config_dirs"])
    if options["list"]:
        print(config_listing())
        return 0
    if not overrides:
        print(TRAIN_USAGE, end="", file=sys.stderr)
        return report(
            ConfigError(
                "config",
                MISSING,
                "no config selected",
                "pass config=NAME (seer train --list names them)",
            )
        )
    return cli(overrides, restart=options["restart"])


if __name__ == "__main__":
    # `python -m seer_plugins.apps.launcher ...` is `seer train ...`.
    sys.exit(train(sys.argv[1:]))
