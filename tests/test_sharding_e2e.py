"""Sharded training (FSDP2, `MODEL.SEER_FSDP`) through VISSL's engine, on CPU and gloo.

`seer_tiny` in fp32 with what SEER trains with: LARC, the prototype freeze (first 5
iterations), a SwAV queue (from iteration 3), warm-up then cosine LR, checkpoints
every 4 iterations; 2 epochs of 10 iterations. Runs are shared between the tests
(each is made once per module, when a test first needs it):

- DDP and sharded, with 2 and with 4 processes, from the same initial weights (a
  `MODEL.WEIGHTS_INIT` file): equal losses, bytes per rank, the consolidated
  export; and with 2, from the same `SEED_VALUE` without one (the sharded run takes
  its shards of rank 0's unsharded build). With 2 processes in the default float32, where the
  two paths are bit-identical. With 4, the gradient sums are float64 in both paths
  (`REDUCE_DTYPE: float64`; DDP through a comm hook), and again bit-identical: in
  float32, 4 ranks' gradients are added in another order by DDP's bucketed
  all-reduce than by FSDP2's per-unit reduce-scatter (gloo's ring sums a chunk
  starting from a rank that depends on the element's place in the buffer), the
  last bits of some gradient elements differ, and 20 iterations of LARC and
  Sinkhorn grow that to ~8e-5 relative in the losses (measured) while the float64
  sums, exact, cannot depend on the order;
- the 2-process sharded run killed with SIGKILL at iteration 14, then resumed by
  AUTO_RESUME from iteration 12; its checkpoint also resumed on 1 and on 4 processes;
  and one killed at iteration 7, resumed from iteration 4, inside the freeze;
- two launchers with `NUM_NODES=2` (node_id 0 and 1, 2 processes each, tcp on
  localhost) against one node of 4 processes;
- the 2-process DDP checkpoint resumed on 1 process (its SwAV queue redealt);
- short sharded runs of what else SEER uses: bf16, activation checkpointing, the
  throughput and progress hooks; VISSL's own trunk, head, loss and hooks in fp16;
- on a GPU only: `seer_1b` sharded on one GPU.

The LR schedule is given explicitly: VISSL's auto-scaled warm-up depends on the
number of nodes (`resolve_linear_schedule` drops the warm-up on a single node whose
batch is large enough), which would make one node of 4 and two nodes of 2 differ.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from gpu import needs_gpu
from launch_helpers import REPO, run_script, stock_swav_cpu

from seer_plugins.apps.convert import convert_file

pytestmark = pytest.mark.slow

PROBE = REPO / "tests" / "support" / "sharding_probe.py"
EPOCH, CHECKPOINT_EVERY, KILL_AT = 10, 4, 14
ITERATIONS = 2 * EPOCH
RESUMED_FROM = KILL_AT - KILL_AT % CHECKPOINT_EVERY
# Killed after the prototype freeze ends, its last checkpoint within it.
FROZEN_KILL_AT = 7
# Relative tolerance of the sharded losses against DDP's (the criterion).
RTOL = 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _overrides(folder, processes, init_file, sharded=True, data_processes=None):
    per_rank = 8 * EPOCH
    # Order-independent gradient sums with 4 ranks (the module's docstring).
    exact_sums = (
        ["config.MODEL.SEER_FSDP.REDUCE_DTYPE=float64"] if processes == 4 else []
    )
    return [
        *exact_sums,
        "config=pretrain/seer_tiny",
        f"config.CHECKPOINT.DIR={folder}",
        f"config.CHECKPOINT.CHECKPOINT_ITER_FREQUENCY={CHECKPOINT_EVERY}",
        f"config.DISTRIBUTED.NUM_PROC_PER_NODE={processes}",
        # The data set of `data_processes` ranks (another world size resumes it).
        f"config.DATA.TRAIN.DATA_LIMIT={per_rank * (data_processes or processes)}",
        "config.OPTIMIZER.num_epochs=2",
        "config.DATA.TRAIN.RANDOM_SYNTHETIC_IMAGES=True",
        "config.DATA.NUM_DATALOADER_WORKERS=0",
        f"config.LOSS.seer_swav_loss.queue.queue_length={16 * processes}",
        "config.LOSS.seer_swav_loss.queue.start_iter=3",
        "config.OPTIMIZER.param_schedulers.lr.auto_lr_scaling.auto_scale=False",
        "config.OPTIMIZER.param_schedulers.lr.schedulers.0.start_value=0.02",
        "config.OPTIMIZER.param_schedulers.lr.schedulers.0.end_value=0.04",
        "config.OPTIMIZER.param_schedulers.lr.schedulers.1.start_value=0.04",
        "config.OPTIMIZER.param_schedulers.lr.schedulers.1.end_value=0.00004",
        f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={init_file}",
        f"config.MODEL.SEER_FSDP.ENABLED={sharded}",
        "config.HOOKS.PLUGINS=[seer_test_loss_log,seer_test_model_state,"
        "seer_test_float64_ddp_sums]",
    ]


def _losses(folder, rank) -> list[tuple[int, str]]:
    """(iteration, loss repr) in the order logged."""
    words = (folder / f"losses_rank{rank}.txt").read_text().split()
    return list(zip(map(int, words[::2]), words[1::2], strict=True))


class Runs:
    """Each run made once, on first use, in a folder of its own."""

    def __init__(self, root, monkeypatch):
        self.root, self.monkeypatch = root, monkeypatch
        self.init_file = root / "init.torch"
        self._done = {}

    def launch(self, name, overrides, kill_at=None, keep=False):
        folder = self.root / name
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        self.monkeypatch.setenv("OMP_NUM_THREADS", "1")
        if kill_at is None:
            self.monkeypatch.delenv("SEER_TEST_KILL_AT_ITERATION", raising=False)
        else:
            self.monkeypatch.setenv("SEER_TEST_KILL_AT_ITERATION", str(kill_at))
        rc, out = run_script(PROBE, overrides(folder), cwd=self.root)
        return folder, rc, out

    def initial_weights(self):
        if not self.init_file.exists():
            script = (
                "import sys, torch, seer_plugins\n"
                "from vissl.models import build_model\n"
                "from seer_plugins.checkpoints.convert import vissl_checkpoint\n"
                "from seer_plugins.models.wrappers import unwrap\n"
                "c = seer_plugins.compose(['config=pretrain/seer_tiny'])\n"
                "torch.manual_seed(0)\n"
                "m = unwrap(build_model(c.MODEL, c.OPTIMIZER))\n"
                "torch.save(vissl_checkpoint(m.trunk.state_dict(),"
                " m.heads.state_dict()), sys.argv[1])\n"
            )
            subprocess.run(
                [sys.executable, "-c", script, str(self.init_file)],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
        return self.init_file

    def get(self, name, processes, sharded=True):
        """A whole run: its folder."""
        if name not in self._done:
            init = self.initial_weights()
            folder, rc, out = self.launch(
                name, lambda f: _overrides(f, processes, init, sharded)
            )
            assert rc == 0, out[-4000:]
            self._done[name] = folder
        return self._done[name]

    def killed(self):
        """The 2-process sharded run after its SIGKILL: a copy of its folder."""
        if "killed" not in self._done:
            init = self.initial_weights()
            folder, rc, out = self.launch(
                "killed", lambda f: _overrides(f, 2, init), kill_at=KILL_AT
            )
            assert rc != 0 and "SIGKILL" in out, out[-3000:]
            snapshot = self.root / "after_kill"
            shutil.rmtree(snapshot, ignore_errors=True)
            shutil.copytree(folder, snapshot)
            self._done["killed"] = snapshot
        return self._done["killed"]

    def resumed(self, name, processes):
        """The killed run's folder resumed on `processes` ranks: (folder, output)."""
        if name not in self._done:
            folder = self.root / name
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(self.killed(), folder)
            init = self.initial_weights()
            _, rc, out = self.launch(
                name,
                lambda f: _overrides(f, processes, init, data_processes=2),
                keep=True,
            )
            assert rc == 0, out[-4000:]
            self._done[name] = (folder, out)
        return self._done[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield Runs(tmp_path_factory.mktemp("sharding"), monkeypatch)


@pytest.mark.parametrize("processes", [2, 4])
def test_sharded_losses_equal_ddp_losses(runs, processes):
    ddp = runs.get(f"ddp{processes}", processes, sharded=False)
    sharded = runs.get(f"fsdp{processes}", processes)
    for rank in range(processes):
        expected, got = _losses(ddp, rank), _losses(sharded, rank)
        assert [i for i, _ in got] == list(range(ITERATIONS))
        worst = max(
            abs(float(a) - float(b)) / abs(float(a))
            for (_, a), (_, b) in zip(expected, got, strict=True)
        )
        assert worst <= RTOL, f"rank {rank}: max relative difference {worst:.2e}"


@pytest.mark.parametrize("processes", [2, 4])
def test_each_rank_holds_a_shard_of_the_weights_and_optimizer(runs, processes):
    ddp = runs.get(f"ddp{processes}", processes, sharded=False)
    sharded = runs.get(f"fsdp{processes}", processes)
    whole = json.loads((ddp / "bytes_rank0.json").read_text())
    for rank in range(processes):
        local = json.loads((sharded / f"bytes_rank{rank}.json").read_text())
        for kind in ("parameters", "gradients", "optimizer"):
            # torch.chunk rows: uneven tensors give some ranks a row more or less.
            assert local[kind] == pytest.approx(whole[kind] / processes, rel=0.05), (
                rank,
                kind,
                local[kind],
                whole[kind],
            )


def test_consolidated_export_equals_the_unsharded_model(runs, tmp_path):
    ddp, sharded = runs.get("ddp2", 2, sharded=False), runs.get("fsdp2", 2)
    exported = tmp_path / "consolidated.torch"
    source = convert_file(
        str(sharded / "model_final_checkpoint_phase1.torch"), str(exported), "vissl"
    )
    assert source == "sharded"
    model = torch.load(exported)["classy_state_dict"]["base_model"]["model"]
    # The export is the sharded model gathered whole ...
    gathered = torch.load(sharded / "final_state.pt")
    for part in ("trunk", "heads"):
        for key, value in model[part].items():
            assert torch.equal(value, gathered[f"{part}.{key}"]), key
    # ... and, 2 processes sharding bit-identically to DDP, DDP's checkpoint itself.
    path = ddp / "model_final_checkpoint_phase1.torch"
    reference = torch.load(path, weights_only=False)["classy_state_dict"]["base_model"]
    for part in ("trunk", "heads"):
        assert model[part].keys() == reference["model"][part].keys()
        for key, value in model[part].items():
            assert torch.equal(value, reference["model"][part][key]), (part, key)
    timm = tmp_path / "timm.pth"
    convert_file(str(sharded / "sharded" / "model_phase0"), str(timm), "timm")
    assert "stem.conv.weight" in torch.load(timm)


def test_sigkill_then_auto_resume_gives_identical_losses(runs):
    uninterrupted = runs.get("fsdp2", 2)
    killed = runs.killed()
    # Atomic folders: nothing half-written is left where AUTO_RESUME looks.
    assert sorted(p.name for p in (killed / "sharded").iterdir()) == [
        "model_iteration12",
        "model_iteration4",
        "model_iteration8",
        "model_phase0",
    ]
    resumed, out = runs.resumed("resumed", 2)
    assert re.search(rf"Resume from file: .*model_iteration{RESUMED_FROM}\.torch", out)
    for rank in range(2):
        expected = dict(_losses(uninterrupted, rank))
        got = _losses(resumed, rank)
        assert [i for i, _ in got] == [
            *range(KILL_AT),
            *range(RESUMED_FROM, ITERATIONS),
        ]
        again = got[KILL_AT:]
        assert again == [(i, expected[i]) for i, _ in again], rank


def test_sharded_and_ddp_runs_of_one_seed_start_from_the_same_weights(runs):
    """No WEIGHTS_INIT: the sharded run takes its shards of the model an unsharded
    build of the same SEED_VALUE makes, so the losses are equal from iteration 0."""
    losses = {}
    for sharded in (True, False):
        folder, rc, out = runs.launch(
            f"seeded_{sharded}", lambda f, s=sharded: _overrides(f, 2, "", s)
        )
        assert rc == 0, out[-4000:]
        losses[sharded] = [_losses(folder, rank) for rank in range(2)]
    assert [i for i, _ in losses[True][0]] == list(range(ITERATIONS))
    assert losses[True] == losses[False]


def test_a_checkpoint_taken_while_the_prototypes_are_frozen_resumes(runs):
    """Killed after iteration 7, resumed from iteration 4's checkpoint, taken during
    the prototype freeze (the first 5 iterations): the frozen prototypes had no
    momentum yet, and, resumed, have none until their first update."""
    uninterrupted = runs.get("fsdp2", 2)
    init = runs.initial_weights()
    folder, rc, out = runs.launch(
        "frozen", lambda f: _overrides(f, 2, init), kill_at=FROZEN_KILL_AT
    )
    assert rc != 0 and "SIGKILL" in out, out[-3000:]
    _, rc, out = runs.launch("frozen", lambda f: _overrides(f, 2, init), keep=True)
    assert rc == 0, out[-4000:]
    assert re.search(r"Resume from file: .*model_iteration4\.torch", out)
    for rank in range(2):
        expected = dict(_losses(uninterrupted, rank))
        got = _losses(folder, rank)
        assert [i for i, _ in got] == [*range(FROZEN_KILL_AT), *range(4, ITERATIONS)]
        again = got[FROZEN_KILL_AT:]
        assert again == [(i, expected[i]) for i, _ in again], rank


@pytest.mark.parametrize("processes", [1, 4])
def test_checkpoint_of_two_ranks_resumes_on_another_world_size(
    runs, processes, tmp_path
):
    folder, out = runs.resumed(f"resharded{processes}", processes)
    assert f"Checkpoint written by 2 processes, resumed on {processes}" in out
    assert "loss buffers are redealt over the new ranks" in out
    # The resumed model is the checkpoint's, resharded.
    exported = tmp_path / "consolidated.torch"
    convert_file(
        str(folder / f"model_iteration{RESUMED_FROM}.torch"), str(exported), "vissl"
    )
    model = torch.load(exported)["classy_state_dict"]["base_model"]["model"]
    start = torch.load(folder / "start_state.pt")
    for part in ("trunk", "heads"):
        for key, value in model[part].items():
            assert torch.equal(value, start[f"{part}.{key}"]), key
    # 2 of the epoch's 10 iterations (8 images x 2 ranks) were done: 20% of it.
    per_epoch = 2 * EPOCH // processes
    done = (RESUMED_FROM - EPOCH) * per_epoch // EPOCH
    iterations = [i for i, _ in _losses(folder, 0)][KILL_AT:]
    assert iterations == list(range(RESUMED_FROM, RESUMED_FROM + per_epoch - done))
    assert (folder / "model_final_checkpoint_phase1.torch").exists()


def test_two_nodes_of_two_equal_one_node_of_four(runs):
    one_node = runs.get("fsdp4", 4)
    folder = runs.root / "two_nodes"
    shutil.rmtree(folder, ignore_errors=True)
    overrides = _overrides(folder, 2, runs.initial_weights(), data_processes=4)
    overrides = [o for o in overrides if "queue_length" not in o] + [
        "config.LOSS.seer_swav_loss.queue.queue_length=64",
        "config.MODEL.SEER_FSDP.REDUCE_DTYPE=float64",  # as the 4-process run's
        "config.DISTRIBUTED.NUM_NODES=2",
        f"config.DISTRIBUTED.RUN_ID=localhost:{_free_port()}",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("SEER_TEST_KILL_AT_ITERATION", None)
    nodes = [
        subprocess.Popen(
            [sys.executable, str(PROBE), *overrides, f"node_id={node}"],
            cwd=runs.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node in (0, 1)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    for node, out in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, out[-4000:]
    for rank in range(4):
        assert _losses(folder, rank) == _losses(one_node, rank), rank


def test_ddp_checkpoint_resumes_on_another_world_size(runs):
    """Unsharded too: the SwAV queue of 2 ranks is redealt to 1 (its per-rank length
    changes with the world size; VISSL would load rank 0's and fail)."""
    folder = runs.root / "ddp_resharded1"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(runs.get("ddp2", 2, sharded=False), folder)
    for later in [
        *folder.glob("model_final_*"),
        *folder.glob("model_iteration1[6-9]*"),
    ]:
        later.unlink()
    (folder / "model_iteration20.torch").unlink()
    (folder / "checkpoint.torch").unlink()
    _, rc, out = runs.launch(
        "ddp_resharded1",
        lambda f: _overrides(
            f, 1, runs.initial_weights(), sharded=False, data_processes=2
        ),
        keep=True,
    )
    assert rc == 0, out[-4000:]
    assert "Checkpoint written by 2 processes, resumed on 1" in out
    assert "loss buffers are redealt over the new ranks" in out
    assert (folder / "model_final_checkpoint_phase1.torch").exists()


FEATURES = {
    # bf16 gathers (BatchNorm in fp32 units), activation checkpointing, the
    # throughput hook counting FLOPs of the sharded forward, the progress bar.
    "bf16_checkpointing_throughput": lambda folder: [
        "config=pretrain/seer_tiny",
        f"config.CHECKPOINT.DIR={folder}",
        "config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE=bfloat16",
        "config.MODEL.ACTIVATION_CHECKPOINTING.USE_ACTIVATION_CHECKPOINTING=True",
        "config.HOOKS.SEER_THROUGHPUT.PEAK_TFLOPS=0.000001",
        "config.HOOKS.SEER_THROUGHPUT.LOG_FREQUENCY=2",
        "config.HOOKS.PLUGINS=[seer_test_loss_log,seer_throughput,seer_progress_bar]",
        "config.DATA.TRAIN.DATA_LIMIT=96",
        "config.OPTIMIZER.num_epochs=1",
    ],
    # VISSL's own trunk, head, loss and SwAV hooks (its TEMP_FROZEN_PARAMS_ITER_MAP
    # names `module.heads.0.prototypes0.weight`), fp16 gathers with the scaler.
    "vissl_regnet_swav_head_fp16": lambda folder: [
        *stock_swav_cpu(folder),
        "config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE=float16",
        "config.HOOKS.PLUGINS=[seer_test_loss_log]",
    ],
}


@pytest.mark.parametrize("name", FEATURES)
def test_sharded_training_keeps_seer_features(runs, name):
    folder = runs.root / name
    _, rc, out = runs.launch(
        name,
        lambda f: [
            *FEATURES[name](f),
            "config.DISTRIBUTED.NUM_PROC_PER_NODE=2",
            "config.MODEL.SEER_FSDP.ENABLED=True",
        ],
    )
    assert rc == 0, out[-4000:]
    losses = [float(v) for _, v in _losses(folder, 0)]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    if name.startswith("bf16"):
        # 6 blocks + 23 BatchNorms + prototypes + head + root.
        assert "Sharded over 2 ranks, 32 units" in out
        mfu = [float(m) for m in re.findall(r"MFU ([0-9.]+)%", out)]
        assert mfu and all(m > 0 for m in mfu)


@needs_gpu
def test_seer_1b_sharded_trains_on_one_gpu(tmp_path):
    """FSDP2 on a world of one GPU: fp16 gathers, SyncBN, activation checkpointing."""
    rc, out = run_script(
        PROBE,
        [
            "config=pretrain/seer_1b",
            f"config.CHECKPOINT.DIR={tmp_path}",
            "config.DISTRIBUTED.NUM_NODES=1",
            "config.DISTRIBUTED.NUM_PROC_PER_NODE=1",
            "config.MODEL.SEER_FSDP.ENABLED=True",
            "config.DATA.TRAIN.DATA_SOURCES=[synthetic]",
            "config.DATA.TRAIN.DATASET_NAMES=[synthetic]",
            "config.DATA.TRAIN.LABEL_SOURCES=[]",
            "config.DATA.TRAIN.LABEL_PATHS=[]",
            "config.DATA.TRAIN.DATA_LIMIT=24",
            "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=8",
            "config.DATA.NUM_DATALOADER_WORKERS=2",
            "config.OPTIMIZER.num_epochs=1",
            "config.HOOKS.PLUGINS=[seer_test_loss_log]",
        ],
        cwd=tmp_path,
    )
    assert rc == 0, out[-4000:]
    losses = [float(v) for _, v in _losses(tmp_path, 0)]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
