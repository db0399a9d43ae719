"""Every cluster launcher runs the same job as ours: torchrun and `srun` start one
process per rank, and each rank's losses equal, bit for bit, those of our
launcher's `DISTRIBUTED.NUM_PROC_PER_NODE=2` (the `uninterrupted` fixture).

The commands are the README's ("Every cluster's launcher"), with
tests/support/resume_probe.py in place of tools/run_distributed_engines.py: the
same entry (`seer train`'s), plus a hook that logs every rank's losses as exact
reprs. `srun` is played by two processes with the variables srun sets. The runs
are tests/support/resume_runs.py's: 12 iterations of `seer_tiny` over 2 ranks,
with a checkpoint every 4.
"""

import socket
import sys

import pytest
from launch_helpers import LAUNCHER, REPO
from resume_runs import (
    NUM_ITERATIONS,
    PROBE,
    finish,
    losses,
    probe_environment,
    resume_overrides,
    start,
    torchrun,
)

from seer_plugins.apps.launcher import cli
from seer_plugins.apps.rank_environment import first_host, rank_environment
from seer_plugins.errors import ConfigError

# The README's commands (tools/run_distributed_engines.py, relative to the checkout).
ONE_NODE = (
    "torchrun --standalone --nproc_per_node=2 tools/run_distributed_engines.py "
    "config=pretrain/seer_tiny"
)
TWO_NODES = (
    "torchrun --nnodes=2 --nproc_per_node=1 --node_rank=$NODE_RANK "
    "--master_addr=$FIRST_NODE --master_port=29500 tools/run_distributed_engines.py "
    "config=pretrain/seer_tiny"
)
WITH_RESTARTS = (
    "torchrun --standalone --nproc_per_node=2 --max-restarts=1 "
    "tools/run_distributed_engines.py config=pretrain/seer_tiny"
)
SRUN = "srun python tools/run_distributed_engines.py config="


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(readme_command: str, **values) -> list[str]:
    """The README's command with the probe as the script, torchrun and python those
    of this interpreter, `$NAME` from `values`, and no config= (the probe run's
    overrides bring it)."""
    words = []
    for word in readme_command.split():
        for name, value in values.items():
            word = word.replace(f"${name}", str(value))
        word = {"torchrun": torchrun(), "python": sys.executable}.get(word, word)
        words.append(str(PROBE) if word == "tools/run_distributed_engines.py" else word)
    words = [w for w in words if not w.startswith("config=")]
    return words[1:] if words[0] == "srun" else words


def _assert_the_launchers_losses(folder, whole, processes=2):
    for rank in range(processes):
        got, order = losses(folder, rank)
        expected, _ = losses(whole, rank)
        assert order == list(range(NUM_ITERATIONS)), rank
        assert got == expected, rank


def test_the_readme_shows_these_commands():
    readme = (REPO / "README.md").read_text()
    for command in (ONE_NODE, TWO_NODES, WITH_RESTARTS, SRUN):
        assert command in readme, command


def test_torchrun_on_one_node_gives_the_launchers_losses(tmp_path, uninterrupted):
    folder = tmp_path / "torchrun"
    command = [*_command(ONE_NODE), *resume_overrides(folder, 2, layout=False)]
    [(rc, out)] = finish([start(command, tmp_path, probe_environment())])
    assert rc == 0, out[-3000:]
    assert "torchrun: 2 ranks (1 node(s) x 2)" in out
    # The preflight ran once, on the node's first process.
    assert out.count("preflight passed, for its 2 rank(s)") == 1, out[-3000:]
    _assert_the_launchers_losses(folder, uninterrupted(2))


def _srun_environment(rank: int, port: int, tasks: int = 2) -> dict:
    """What `srun --ntasks-per-node=2` sets for task `rank` on one node (and the
    MASTER_PORT an sbatch script exports)."""
    return probe_environment(
        SLURM_JOB_ID=4242,
        SLURM_STEP_ID=0,
        SLURM_PROCID=rank,
        SLURM_LOCALID=rank,
        SLURM_NODEID=0,
        SLURM_NTASKS=tasks,
        SLURM_STEP_NUM_TASKS=tasks,
        SLURM_NNODES=1,
        SLURM_STEP_NUM_NODES=1,
        SLURM_TASKS_PER_NODE=tasks,
        SLURM_STEP_TASKS_PER_NODE=tasks,
        SLURM_JOB_NODELIST="localhost",
        SLURM_STEP_NODELIST="localhost",
        SLURMD_NODENAME="localhost",
        MASTER_PORT=port,
    )


def test_srun_one_task_per_rank_gives_the_launchers_losses(tmp_path, uninterrupted):
    folder, port = tmp_path / "srun", _free_port()
    command = [*_command(SRUN), *resume_overrides(folder, 2, layout=False)]
    results = finish(
        [start(command, tmp_path, _srun_environment(r, port)) for r in range(2)]
    )
    for rc, out in results:
        assert rc == 0, out[-3000:]
    assert (
        f"srun: 2 ranks (1 node(s) x 2), rendezvous at localhost:{port}"
        in (results[0][1])
    )
    _assert_the_launchers_losses(folder, uninterrupted(2))


def test_torchrun_on_two_nodes_gives_one_node_of_twos_losses(tmp_path, uninterrupted):
    folder, port = tmp_path / "two_nodes", _free_port()
    overrides = resume_overrides(folder, 2, layout=False)
    nodes = []
    for node in range(2):
        command = _command(TWO_NODES, NODE_RANK=node, FIRST_NODE="127.0.0.1")
        # The README's port, a free one here.
        command[command.index("--master_port=29500")] = f"--master_port={port}"
        nodes.append(start([*command, *overrides], tmp_path, probe_environment()))
    results = finish(nodes)
    for rc, out in results:
        assert rc == 0, out[-3000:]
    # Each node ran its own preflight.
    for node, (_, out) in enumerate(results):
        assert f"torchrun: node {node}: preflight passed, for its 1 rank(s)" in out
    _assert_the_launchers_losses(folder, uninterrupted(2))


def test_a_killed_rank_under_torchrun_restarts_and_resumes_exactly(
    tmp_path, uninterrupted
):
    """Rank 1 dies of SIGKILL at the end of iteration 10 (its first attempt only);
    torchrun restarts both ranks, which resume from the iteration-8 checkpoint."""
    folder = tmp_path / "restarted"
    command = [*_command(WITH_RESTARTS), *resume_overrides(folder, 2, layout=False)]
    environment = probe_environment(
        SEER_TEST_KILL_AT_ITERATION=10, SEER_TEST_KILL_RANK=1
    )
    [(rc, out)] = finish([start(command, tmp_path, environment)], timeout=300)
    assert rc == 0, out[-3000:]
    assert "torchrun restart 1: resuming" in out, out[-3000:]
    assert f"Resume from file: {folder / 'model_iteration8.torch'}" in out
    for rank in range(2):
        got, order = losses(folder, rank)
        expected, _ = losses(uninterrupted(2), rank)
        # Logged up to the kill (rank 1: 0..9; rank 0 at most that far), then
        # 8..11 again after the restart.
        stopped = next(i for i in range(1, len(order)) if order[i] <= order[i - 1])
        assert 8 <= stopped <= 10 and order[:stopped] == list(range(stopped))
        assert order[stopped:] == list(range(8, NUM_ITERATIONS)), order
        assert got == expected, rank
    assert losses(folder, 1)[1][:10] == list(range(10))


def test_a_rank_that_cannot_reach_the_rendezvous_says_so_in_one_line(tmp_path):
    """srun's task 1 of 2, with no task 0 anywhere: one line naming the address
    and the variables it came from, within the stated wait."""
    port = _free_port()
    command = [
        *_command(SRUN),
        "config=pretrain/seer_tiny",
        f"config.CHECKPOINT.DIR={tmp_path / 'alone'}",
        "config.DISTRIBUTED.SEER_RENDEZVOUS_TIMEOUT_S=3",
    ]
    [(rc, out)] = finish(
        [start(command, tmp_path, _srun_environment(1, port))], timeout=120
    )
    assert rc == 2, out[-3000:]
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out[-3000:]
    assert errors[0].startswith(
        f"error: rendezvous='localhost:{port}': (from SLURM_STEP_NODELIST's first "
        "host, MASTER_PORT) rank 1 of 2 could not reach rank 0 there in 3 s"
    ), errors[0]
    # Said without torch's C++ stack traces of every failed try.
    assert "frame #" not in out, out[-3000:]
    assert "config.DISTRIBUTED.SEER_RENDEZVOUS_TIMEOUT_S sets the wait" in errors[0]


TORCHRUN_TWO = {
    "TORCHELASTIC_RUN_ID": "job",
    "RANK": "0",
    "WORLD_SIZE": "2",
    "LOCAL_RANK": "0",
    "LOCAL_WORLD_SIZE": "2",
    "GROUP_RANK": "0",
    "MASTER_ADDR": "127.0.0.1",
    "MASTER_PORT": "29500",
}


def test_torchrun_and_srun_environments_name_this_rank():
    env = rank_environment({**TORCHRUN_TWO, "RANK": "1", "LOCAL_RANK": "1"})
    assert (env.launcher, env.rank, env.world_size, env.local_rank) == (
        "torchrun",
        1,
        2,
        1,
    )
    assert (env.num_nodes, env.node_rank, env.master_port) == (1, 0, 29500)
    srun = {
        "SLURM_JOB_ID": "123456",
        "SLURM_STEP_ID": "0",
        "SLURM_PROCID": "5",
        "SLURM_LOCALID": "1",
        "SLURM_NODEID": "1",
        "SLURM_STEP_NUM_TASKS": "8",
        "SLURM_STEP_TASKS_PER_NODE": "4(x2)",
        "SLURM_STEP_NODELIST": "gpu[017-018]",
        "SLURM_JOB_NODELIST": "gpu[017-018]",
    }
    env = rank_environment(srun)
    assert (env.launcher, env.rank, env.world_size, env.num_nodes) == (
        "srun",
        5,
        8,
        2,
    )
    assert (env.node_rank, env.local_rank, env.master_addr) == (1, 1, "gpu017")
    # A port per job id, below the ephemeral range; MASTER_* win when set.
    assert env.master_port == 12000 + 123456 % 20000
    env = rank_environment({**srun, "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "1234"})
    assert (env.master_addr, env.master_port) == ("10.0.0.1", 1234)
    # torchrun started inside an srun step (one torchrun per node) is torchrun's.
    assert rank_environment({**srun, **TORCHRUN_TWO}).launcher == "torchrun"


def test_a_launch_that_is_not_one_process_per_rank_is_ours():
    assert rank_environment({}) is None
    # An interactive `srun --pty bash`, a batch script's own shell: one task.
    one_task = {"SLURM_JOB_ID": "1", "SLURM_STEP_ID": "0", "SLURM_PROCID": "0"}
    assert rank_environment({**one_task, "SLURM_NTASKS": "1"}) is None
    assert rank_environment({**one_task, "SLURM_STEP_ID": "batch"}) is None
    # What VISSL's launcher leaves in its own environment after a run.
    assert rank_environment({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is None


@pytest.mark.parametrize(
    "environ, key, says",
    [
        (
            {**TORCHRUN_TWO, "LOCAL_WORLD_SIZE": ""},
            "environment variable LOCAL_WORLD_SIZE",
            "torchrun (TORCHELASTIC_RUN_ID is set) sets",
        ),
        (
            # srun --distribution=cyclic: rank 1 on the second node
            {
                "SLURM_JOB_ID": "1",
                "SLURM_STEP_ID": "0",
                "SLURM_PROCID": "1",
                "SLURM_LOCALID": "0",
                "SLURM_NODEID": "1",
                "SLURM_STEP_NUM_TASKS": "4",
                "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
                "SLURM_STEP_NODELIST": "n[1-2]",
            },
            "srun's rank 1",
            "--distribution=block",
        ),
        (
            {
                "SLURM_JOB_ID": "1",
                "SLURM_STEP_ID": "0",
                "SLURM_PROCID": "0",
                "SLURM_LOCALID": "0",
                "SLURM_NODEID": "0",
                "SLURM_STEP_NUM_TASKS": "4",
                "SLURM_STEP_TASKS_PER_NODE": "3,1",
                "SLURM_STEP_NODELIST": "n[1-2]",
            },
            "environment variable SLURM_STEP_TASKS_PER_NODE",
            "--ntasks-per-node",
        ),
        (
            {"RANK": "1", "WORLD_SIZE": "4", "MASTER_ADDR": "h", "MASTER_PORT": "1"},
            "environment variable RANK",
            "start it with torchrun or srun",
        ),
    ],
    ids=["torchrun-incomplete", "srun-cyclic", "srun-uneven", "another-launcher"],
)
def test_a_launch_seer_cannot_number_is_refused_in_one_line(environ, key, says):
    with pytest.raises(ConfigError) as refused:
        rank_environment(environ)
    assert str(refused.value).startswith(key), refused.value
    assert says in str(refused.value)


def test_first_host_of_a_slurm_host_list():
    assert first_host("gpu[017-020,031],cpu1") == "gpu017"
    assert first_host("rack[2-3]-n[09-12]") == "rack2-n09"
    assert first_host("login1,login2") == "login1"
    assert first_host("single") == "single"


@pytest.mark.parametrize("local_rank, says", [("0", True), ("1", False)])
def test_vissls_own_spawning_inside_torchrun_is_refused_once_per_node(
    monkeypatch, capsys, local_rank, says
):
    """`config.DISTRIBUTED.NUM_PROC_PER_NODE=4` under torchrun's 2 per node would
    spawn 4 more in each rank: refused before anything starts, said by the node's
    first process only."""
    for name, value in {**TORCHRUN_TWO, "LOCAL_RANK": local_rank}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RANK", local_rank)
    status = cli(
        ["config=pretrain/seer_tiny", "config.DISTRIBUTED.NUM_PROC_PER_NODE=4"]
    )
    assert status == 2
    err = capsys.readouterr().err
    if says:
        assert err.startswith(
            "error: config.DISTRIBUTED.NUM_PROC_PER_NODE=4: differs from "
            "torchrun's layout: 2 processes, 1 node(s) x 2, one per rank"
        ), err
    else:
        assert "error:" not in err


@pytest.mark.parametrize("local_id, says", [("0", True), ("1", False)])
def test_a_placement_every_task_refuses_is_said_once_per_node(
    monkeypatch, capsys, local_id, says
):
    uneven = {
        "SLURM_JOB_ID": "1",
        "SLURM_STEP_ID": "0",
        "SLURM_PROCID": local_id,
        "SLURM_LOCALID": local_id,
        "SLURM_NODEID": "0",
        "SLURM_STEP_NUM_TASKS": "4",
        "SLURM_STEP_TASKS_PER_NODE": "3,1",
        "SLURM_STEP_NODELIST": "n[1-2]",
    }
    for name, value in uneven.items():
        monkeypatch.setenv(name, value)
    assert cli(["config=pretrain/seer_tiny"]) == 2
    err = capsys.readouterr().err
    assert (
        "error: environment variable SLURM_STEP_TASKS_PER_NODE='3,1'" in err
    ) is says


def test_submitting_to_slurm_from_inside_a_rank_is_refused(monkeypatch, capsys):
    for name, value in TORCHRUN_TWO.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    status = cli(
        [
            "config=pretrain/seer_tiny",
            "config.SLURM.USE_SLURM=true",
            "config.SLURM.PARTITION=p",
        ]
    )
    assert status == 2
    assert capsys.readouterr().err.startswith(
        "error: config.SLURM.USE_SLURM=True: submits a new SLURM job, and this "
        "process is already one rank that torchrun started"
    )


def test_the_tool_script_is_the_launchers_entry():
    """The README's commands name tools/run_distributed_engines.py; the probe the
    tests run through is that entry plus a loss log."""
    assert LAUNCHER.relative_to(REPO).as_posix() == "tools/run_distributed_engines.py"
    assert "from seer_plugins.apps.launcher import cli" in PROBE.read_text()
