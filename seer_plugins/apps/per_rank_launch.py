"""`seer train` as one rank of a job that torchrun or srun started rank by rank.

Under these launchers (:mod:`seer_plugins.apps.rank_environment`) every process
composes the same config, with `DISTRIBUTED.NUM_NODES` x `NUM_PROC_PER_NODE` taken
from the environment (a different layout given on the command line is refused),
then:

1. meets the others at the launcher's address (`env://`), within
   `DISTRIBUTED.SEER_RENDEZVOUS_TIMEOUT_S`: a rank that cannot is one line naming
   the address and where it came from, not a hang;
2. the first process of each node runs the preflight while the others wait; one
   refusal anywhere stops every rank, said once per node;
3. rank 0 claims the run folder (:mod:`seer_plugins.runs.run_folder`), writes
   `train_config.yaml`, and picks the checkpoint to resume from, for every rank:
   a torchrun restart or a requeued job resumes as VISSL's own launch does
   (`--restart` acts on the first start only);
4. each process runs VISSL's per-rank worker for its rank, in the process group
   already formed (VISSL's trainer reuses it), with the same hooks, checkpoints
   and exact resume as a run our launcher spawns.
"""

import datetime
import logging
import os
import socket
import time

import torch
import torch.distributed as dist
from vissl.utils import checkpoint as vissl_checkpoint
from vissl.utils.distributed_launcher import _distributed_worker
from vissl.utils.logger import setup_logging

from seer_plugins.apps.rank_environment import RankEnvironment
from seer_plugins.checks.preflight import preflight
from seer_plugins.config.compose import compose_with_args
from seer_plugins.config.defaults import plugin_setting
from seer_plugins.errors import ConfigError
from seer_plugins.hooks.registry import seer_hook_generator
from seer_plugins.runs.run_folder import RunClaim, claim_run_folder

LAYOUT_KEYS = ("DISTRIBUTED.NUM_NODES", "DISTRIBUTED.NUM_PROC_PER_NODE")
TIMEOUT_KEY = "DISTRIBUTED.SEER_RENDEZVOUS_TIMEOUT_S"


class SaidElsewhere(ConfigError):
    """A refusal every rank shares: said by the first process of each node, the
    others exit with the same status in silence."""

    def __init__(self, message: str):
        super().__init__("", "", "")
        self.args = (message,)


def _quiet_unless_first_on_node(error: ConfigError, env: RankEnvironment):
    if env.local_rank != 0:
        error.said_elsewhere = True
    return error


def layout_overrides(overrides: list[str], env: RankEnvironment) -> list[str]:
    """The overrides that give the config the launcher's layout, after refusing a
    layout the command line states otherwise (VISSL's own spawning inside the
    launcher's ranks)."""
    wanted = {
        "DISTRIBUTED.NUM_NODES": env.num_nodes,
        "DISTRIBUTED.NUM_PROC_PER_NODE": env.local_world_size,
    }
    stated = {}
    for override in overrides:
        key, _, value = override.partition("=")
        key = key.lstrip("+~")
        if key.startswith("config.") and key[len("config.") :] in wanted:
            stated[key[len("config.") :]] = value
    for key, value in stated.items():
        if value.strip() != str(wanted[key]):
            raise ConfigError(
                f"config.{key}",
                int(value) if value.strip().isdigit() else value,
                f"differs from {env.launcher}'s layout: {env.world_size} processes, "
                f"{env.num_nodes} node(s) x {env.local_world_size}, one per rank "
                "(VISSL's own spawning would start more inside each)",
                f"leave config.{key} out (it is set from {env.launcher}), or start "
                f"{env.launcher} with the layout the config wants",
            )
    return [f"config.{k}={v}" for k, v in wanted.items() if k not in stated]


def refuse_what_a_rank_cannot_do(config, env: RankEnvironment) -> None:
    """Settings that only VISSL's own per-node launch can carry out."""
    if config.SLURM.USE_SLURM:
        raise ConfigError(
            "config.SLURM.USE_SLURM",
            True,
            f"submits a new SLURM job, and this process is already one rank that "
            f"{env.launcher} started",
            "leave it out under torchrun / srun, or run `seer train` with it from a "
            "login node, outside any launcher",
        )
    for split in ("TRAIN", "TEST"):
        if config.DATA[split].get("COPY_TO_LOCAL_DISK"):
            raise ConfigError(
                f"config.DATA.{split}.COPY_TO_LOCAL_DISK",
                True,
                "copies the data once per node from VISSL's own launcher, which "
                f"{env.launcher} replaces",
                "copy the data to each node's disk before starting the job",
            )


def rendezvous(env: RankEnvironment, backend: str, timeout_s: float) -> None:
    """Form the job's process group at the launcher's address, or refuse in one
    line within `timeout_s`. Training's own collectives keep torch's timeout."""
    if backend == "nccl" and torch.cuda.is_available():
        torch.cuda.set_device(env.local_rank)
    logging.info("%s: joining the rendezvous (timeout %s s)", env.describe(), timeout_s)
    # torch's env:// reads these (srun sets none of them; VISSL reads RANK too).
    os.environ.update(
        MASTER_ADDR=env.master_addr,
        MASTER_PORT=str(env.master_port),
        RANK=str(env.rank),
        WORLD_SIZE=str(env.world_size),
        LOCAL_RANK=str(env.local_rank),
    )
    deadline = time.monotonic() + timeout_s
    try:
        if env.rank != 0 and not _agent_hosts_the_store(env):
            # Wait for rank 0's store here: torch's client logs a C++ stack trace
            # per failed try, and tries twice over.
            _wait_until_listening(env.master_addr, env.master_port, deadline)
        store, _, _ = next(
            dist.rendezvous(
                "env://",
                rank=env.rank,
                world_size=env.world_size,
                timeout=datetime.timedelta(seconds=timeout_s),
            )
        )
    except (RuntimeError, ValueError, OSError) as error:
        who = (
            f"rank 0 was not joined by the other {env.world_size - 1} rank(s)"
            if env.rank == 0
            else f"rank {env.rank} of {env.world_size} could not reach rank 0"
        )
        said = " ".join(str(error).split())[:160]
        raise ConfigError(
            "rendezvous",
            f"{env.master_addr}:{env.master_port}",
            f"(from {env.address_from}) {who} there in {timeout_s:g} s (torch: {said})",
            f"check that every rank was started and that {env.master_addr} accepts "
            f"connections on port {env.master_port}; config.{TIMEOUT_KEY} sets the "
            "wait",
        ) from None
    store.set_timeout(datetime.timedelta(minutes=30))
    # torchrun keeps one store (its agent's) across restarts: a restarted rank
    # would read the dead ranks' addresses under the same keys.
    store = dist.PrefixStore(f"seer/attempt{env.restart_count}", store)
    dist.init_process_group(
        backend=backend, store=store, rank=env.rank, world_size=env.world_size
    )


def _agent_hosts_the_store(env: RankEnvironment) -> bool:
    """torchrun's agent serves the store every rank connects to (it is up)."""
    return os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"


def _wait_until_listening(address: str, port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise OSError(f"nothing accepted a connection: {error}") from None
            time.sleep(0.2)


def _gathered_outcome(outcome, env: RankEnvironment, group) -> str | None:
    """Every rank's `outcome` (None: fine; else the refusal's line); the first
    refusal, by rank, or None."""
    gathered = [None] * env.world_size
    dist.all_gather_object(gathered, outcome, group=group)
    return next((o for o in gathered if o is not None), None)


def _resume_file(config) -> str | None:
    """The checkpoint every rank resumes from (VISSL's launcher's choice)."""
    folder = vissl_checkpoint.get_checkpoint_folder(config)
    symlink = os.path.join(folder, "checkpoint.torch")
    if config.CHECKPOINT.USE_SYMLINK_CHECKPOINT_FOR_RESUME and os.path.exists(symlink):
        return symlink
    return vissl_checkpoint.get_resume_checkpoint(config, checkpoint_folder=folder)


class _RankSteps:
    """The steps before training, in the order `compose_with_args` calls them."""

    def __init__(self, env: RankEnvironment, engine_restart: bool):
        self.env = env
        self.asked_restart = engine_restart
        self.restart = engine_restart and env.restart_count == 0
        self.group = None
        self.checking = False  # past composing: a refusal may be this rank's own
        self.claim: RunClaim | None = None
        self.finished = False
        self.resume_file = None

    def check(self, config) -> None:
        env = self.env
        self.checking = True
        try:
            refuse_what_a_rank_cannot_do(config, env)
        except ConfigError as error:
            raise _quiet_unless_first_on_node(error, env) from None
        timeout = float(plugin_setting(config, TIMEOUT_KEY))
        if env.local_rank == 0:
            setup_logging(__name__)  # as VISSL's launcher, once per node
        rendezvous(env, config.DISTRIBUTED.BACKEND, timeout)
        # Coordination on the CPU, whatever training's backend.
        self.group = dist.new_group(backend="gloo")
        own, outcome = None, None
        if env.local_rank == 0:
            try:
                preflight(config)
                print(
                    f"{env.launcher}: node {env.node_rank}: preflight passed, for its "
                    f"{env.local_world_size} rank(s)",
                    flush=True,
                )
            except Exception as error:  # every rank must hear of it, then stop
                own, outcome = error, f"node {env.node_rank}: {error}"
                if isinstance(error, ConfigError):
                    outcome = str(error)
        refused = _gathered_outcome(outcome, env, self.group)
        if own is not None:
            raise own
        if refused is not None:
            error = SaidElsewhere(refused)
            error.said_elsewhere = env.local_rank != 0
            raise error

    def claim_folder(self, args) -> None:
        env, own, outcome = self.env, None, None
        if env.rank == 0:
            if env.restart_count:
                asked = (
                    " (--restart acts on the first start only)"
                    if self.asked_restart
                    else ""
                )
                print(
                    f"{env.launcher} restart {env.restart_count}: resuming the run in "
                    f"its folder{asked}",
                    flush=True,
                )
            try:
                self.claim = claim_run_folder(
                    args.config, args.engine_name, restart=self.restart
                )
                if self.claim.finished:
                    outcome = ("finished", None)
                else:
                    outcome = ("run", _resume_file(args.config))
            except Exception as error:
                own, outcome = error, ("refused", str(error))
        shared = [outcome]
        dist.broadcast_object_list(shared, src=0, group=self.group)
        kind, detail = shared[0]
        if own is not None:
            raise own
        if kind == "refused":
            error = SaidElsewhere(detail)
            error.said_elsewhere = env.local_rank != 0
            raise error
        self.finished = kind == "finished"
        self.resume_file = detail


def run_this_rank(overrides, env: RankEnvironment, restart: bool = False) -> None:
    """Train (or run `engine_name`) as the rank `env` names (module doc)."""
    if env.rank == 0:
        print(env.describe(), flush=True)
    try:
        layout = layout_overrides(list(overrides), env)
    except ConfigError as error:
        raise _quiet_unless_first_on_node(error, env) from None
    steps = _RankSteps(env, restart)
    try:
        if env.local_rank != 0:  # the node's first process says what composing says
            logging.disable(logging.WARNING)
        try:
            args, config = compose_with_args(
                [*overrides, *layout],
                dump_config=env.rank == 0,
                check=steps.check,
                claim=steps.claim_folder,
            )
        except ConfigError as error:
            if not steps.checking:  # composing: every rank found the same
                _quiet_unless_first_on_node(error, env)
            raise
        finally:
            logging.disable(logging.NOTSET)
        if steps.finished:
            if env.rank == 0:
                print(
                    f"{config.CHECKPOINT.DIR} holds this run, finished (same config "
                    "and inputs): nothing to do; --restart runs it again"
                )
            return
        config.DISTRIBUTED.INIT_METHOD = "env"
        config.DISTRIBUTED.RUN_ID = f"{env.master_addr}:{env.master_port}"
        _distributed_worker(
            env.local_rank,
            config,
            env.node_rank,
            config.DISTRIBUTED.RUN_ID,
            args.engine_name,
            steps.resume_file,
            vissl_checkpoint.get_checkpoint_folder(config),
            seer_hook_generator,
        )
    finally:
        if steps.claim is not None:
            steps.claim.release()
        if dist.is_initialized():
            dist.destroy_process_group()
