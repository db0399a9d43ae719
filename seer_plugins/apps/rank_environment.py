"""Which rank this process is, when a cluster launcher started one process per rank.

`torchrun` (TorchElastic, and what builds on it: Kubernetes' PyTorchJob, SageMaker,
Azure ML) and `srun` with one task per GPU each start every rank themselves and say
which one a process is in its environment. VISSL only knows its own launch: one
process per node that spawns the node's ranks. Under these launchers `seer train`
must run the one rank it was started as, with the job's layout from the
environment (:mod:`seer_plugins.apps.per_rank_launch`).

The variables read:
- torchrun: `TORCHELASTIC_RUN_ID` (that it is torchrun), `RANK`, `WORLD_SIZE`,
  `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`,
  `TORCHELASTIC_RESTART_COUNT`;
- srun: `SLURM_STEP_ID` (inside a job step), `SLURM_PROCID`, `SLURM_STEP_NUM_TASKS`
  (`SLURM_NTASKS`), `SLURM_LOCALID`, `SLURM_NODEID`, `SLURM_STEP_NUM_NODES`
  (`SLURM_NNODES`), `SLURM_STEP_TASKS_PER_NODE` (`SLURM_TASKS_PER_NODE`), the first
  host of `SLURM_STEP_NODELIST` (`SLURM_JOB_NODELIST`) as the address unless
  `MASTER_ADDR` is set, `MASTER_PORT` or a port from `SLURM_JOB_ID`,
  `SLURM_RESTART_COUNT`.

torchrun inside an `srun` step (one torchrun per node) is torchrun's. A step of
one task (an interactive `srun --pty bash`, a batch script's own shell) is not a
per-rank launch: our launcher spawns the ranks there as anywhere.
"""

import dataclasses
import os
import re
from collections.abc import Mapping

from seer_plugins.errors import MISSING, ConfigError

TORCHRUN_VARIABLES = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
)
# Ports for srun jobs without MASTER_PORT: one per job id, so that two jobs sharing
# a node do not meet at the same one. Below Linux's ephemeral range (32768-).
SLURM_PORT_BASE, SLURM_PORT_SPAN = 12000, 20000


@dataclasses.dataclass(frozen=True)
class RankEnvironment:
    """One process of a job whose launcher started every rank."""

    launcher: str  # "torchrun" | "srun"
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    node_rank: int
    master_addr: str
    master_port: int
    # How many times the launcher restarted this job (torchrun --max-restarts,
    # a requeued SLURM job): a restart resumes, whatever the first start was told.
    restart_count: int = 0
    # Where the address and port came from, for messages.
    address_from: str = "MASTER_ADDR, MASTER_PORT"

    @property
    def num_nodes(self) -> int:
        return self.world_size // self.local_world_size

    def describe(self) -> str:
        return (
            f"{self.launcher}: {self.world_size} rank{'s' * (self.world_size != 1)} "
            f"({self.num_nodes} node(s) x "
            f"{self.local_world_size}), rendezvous at {self.master_addr}:"
            f"{self.master_port} (from {self.address_from})"
        )


def _integer(environ: Mapping[str, str], name: str, launcher: str) -> int:
    value = environ.get(name)
    if value is None or value == "":
        raise ConfigError(
            f"environment variable {name}",
            MISSING,
            f"is not set, and {launcher} sets it for every process it starts",
            f"start the job with {launcher} itself, or set {name}",
        )
    try:
        return int(value)
    except ValueError:
        raise ConfigError(
            f"environment variable {name}", value, "is not an integer"
        ) from None


def _torchrun(environ: Mapping[str, str]) -> RankEnvironment:
    values = {name: environ.get(name) for name in TORCHRUN_VARIABLES}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigError(
            f"environment variable {missing[0]}",
            MISSING,
            f"is not set, and torchrun (TORCHELASTIC_RUN_ID is set) sets "
            f"{', '.join(TORCHRUN_VARIABLES)}",
            "start the job with torchrun itself",
        )
    return _checked(
        RankEnvironment(
            launcher="torchrun",
            rank=_integer(environ, "RANK", "torchrun"),
            world_size=_integer(environ, "WORLD_SIZE", "torchrun"),
            local_rank=_integer(environ, "LOCAL_RANK", "torchrun"),
            local_world_size=_integer(environ, "LOCAL_WORLD_SIZE", "torchrun"),
            node_rank=int(environ.get("GROUP_RANK") or 0),
            master_addr=values["MASTER_ADDR"],
            master_port=_integer(environ, "MASTER_PORT", "torchrun"),
            restart_count=int(environ.get("TORCHELASTIC_RESTART_COUNT") or 0),
        ),
        placement="torchrun's --nproc_per_node on every node",
    )


def first_host(nodelist: str) -> str:
    """The first host of a SLURM host list: `gpu[017-020,031],cpu1` -> `gpu017`."""
    depth, end = 0, len(nodelist)
    for index, char in enumerate(nodelist):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            end = index
            break
    first = nodelist[:end].strip()
    # Each bracket holds ranges and single names; the first one's start is the host.
    host = re.sub(r"\[([^\]\-,]+)[^\]]*\]", r"\1", first)
    if not host or "[" in host or "]" in host:
        raise ConfigError(
            "environment variable SLURM_JOB_NODELIST",
            nodelist,
            "is not a SLURM host list",
            "set MASTER_ADDR to the first node's address",
        )
    return host


def _tasks_per_node(value: str) -> list[int]:
    """SLURM's `2(x3),1` -> [2, 2, 2, 1]."""
    counts = []
    for part in value.split(","):
        match = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if not match:
            raise ConfigError(
                "environment variable SLURM_STEP_TASKS_PER_NODE",
                value,
                "is not SLURM's tasks-per-node list",
            )
        counts += [int(match.group(1))] * int(match.group(2) or 1)
    return counts


def _slurm(environ: Mapping[str, str]) -> RankEnvironment:
    def first_of(*names: str) -> str:
        return next((n for n in names if environ.get(n)), names[0])

    world_size = _integer(
        environ, first_of("SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"), "srun"
    )
    per_node_name = first_of("SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE")
    per_node = _tasks_per_node(environ.get(per_node_name) or str(world_size))
    if len(set(per_node)) != 1:
        raise ConfigError(
            f"environment variable {per_node_name}",
            environ.get(per_node_name),
            "srun placed a different number of tasks on each node, and every node "
            "must run as many ranks",
            "run srun with --ntasks-per-node=<GPUs per node>",
        )
    if environ.get("MASTER_ADDR"):
        address, address_from = environ["MASTER_ADDR"], "MASTER_ADDR"
    else:
        nodelist_name = first_of("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST")
        nodelist = environ.get(nodelist_name)
        if not nodelist:
            raise ConfigError(
                "environment variable SLURM_JOB_NODELIST",
                MISSING,
                "is not set, and the first node's address comes from it",
                "set MASTER_ADDR",
            )
        address, address_from = first_host(nodelist), f"{nodelist_name}'s first host"
    if environ.get("MASTER_PORT"):
        port, port_from = _integer(environ, "MASTER_PORT", "srun"), "MASTER_PORT"
    else:
        job_id = _integer(environ, "SLURM_JOB_ID", "srun")
        port = SLURM_PORT_BASE + job_id % SLURM_PORT_SPAN
        port_from = "a port per SLURM_JOB_ID"
    return _checked(
        RankEnvironment(
            launcher="srun",
            rank=_integer(environ, "SLURM_PROCID", "srun"),
            world_size=world_size,
            local_rank=_integer(environ, "SLURM_LOCALID", "srun"),
            local_world_size=per_node[0],
            node_rank=_integer(environ, "SLURM_NODEID", "srun"),
            master_addr=address,
            master_port=port,
            restart_count=int(environ.get("SLURM_RESTART_COUNT") or 0),
            address_from=f"{address_from}, {port_from}",
        ),
        placement="srun's --ntasks-per-node=<GPUs per node> and --distribution=block",
    )


def _checked(env: RankEnvironment, placement: str) -> RankEnvironment:
    """VISSL numbers a rank `node * per node + local rank`: the launcher's placement
    must agree, or two processes would take one rank's place."""
    if env.world_size < 1 or env.local_world_size < 1:
        raise ConfigError(
            f"{env.launcher}'s world size", env.world_size, "is not positive"
        )
    if env.world_size % env.local_world_size:
        raise ConfigError(
            f"{env.launcher}'s world size",
            env.world_size,
            f"is not a multiple of the {env.local_world_size} processes per node",
            f"run the same number of processes on every node ({placement})",
        )
    node = env.rank // env.local_world_size
    if (
        env.rank % env.local_world_size != env.local_rank
        or env.node_rank != node
        or not 0 <= env.rank < env.world_size
    ):
        raise ConfigError(
            f"{env.launcher}'s rank {env.rank}",
            f"node {env.node_rank} local rank {env.local_rank}",
            f"is not node x {env.local_world_size} + local rank, the numbering "
            "VISSL's engine uses",
            f"place ranks in blocks per node ({placement})",
        )
    return dataclasses.replace(env, node_rank=node)


def rank_environment(
    environ: Mapping[str, str] | None = None,
) -> RankEnvironment | None:
    """This process's rank when torchrun or a many-task srun started it, else None.

    A launcher's environment that is incomplete or placed ranks in a way VISSL
    cannot number is refused (:class:`ConfigError`)."""
    environ = os.environ if environ is None else environ
    if environ.get("TORCHELASTIC_RUN_ID"):
        return _torchrun(environ)
    if all(environ.get(name) for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR")):
        if environ["WORLD_SIZE"] != "1":
            raise ConfigError(
                "environment variable RANK",
                environ["RANK"],
                f"with WORLD_SIZE={environ['WORLD_SIZE']} and MASTER_ADDR set says "
                "another launcher started this process as one rank (torchrun sets "
                "TORCHELASTIC_RUN_ID too)",
                "start it with torchrun or srun, or unset RANK and WORLD_SIZE",
            )
    in_step = environ.get("SLURM_STEP_ID") not in (None, "", "batch", "extern")
    tasks = environ.get("SLURM_STEP_NUM_TASKS") or environ.get("SLURM_NTASKS") or "1"
    if in_step and environ.get("SLURM_PROCID") is not None and tasks.isdigit():
        if int(tasks) > 1:
            return _slurm(environ)
    return None
