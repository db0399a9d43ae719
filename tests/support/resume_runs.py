"""`seer_tiny` runs that log every loss, for the tests that compare runs bit for bit
(exact resume, and every launcher against ours).

A run trains `seer_tiny` through tests/support/resume_probe.py: 2 epochs of 6
iterations of 8 images per process, checkpoints every 4 iterations, with what a
resume must restore switched on (data loader workers, random synthetic images, fp16
autocast, a SwAV queue from iteration 3, LARC, the warm-up and cosine LR, the
prototype freeze). Each rank's losses are logged as the exact repr of each float.
"""

import os
import subprocess
import sys
from pathlib import Path

from launch_helpers import REPO

PROBE = REPO / "tests" / "support" / "resume_probe.py"
CHECKPOINT_EVERY, NUM_ITERATIONS = 4, 12


def resume_overrides(folder, processes, layout=True) -> list[str]:
    """The run's overrides into `folder`; `layout=False` leaves the process count to
    the launcher (torchrun, srun)."""
    return [
        "config=pretrain/seer_tiny",
        f"config.CHECKPOINT.DIR={folder}",
        f"config.CHECKPOINT.CHECKPOINT_ITER_FREQUENCY={CHECKPOINT_EVERY}",
        *([f"config.DISTRIBUTED.NUM_PROC_PER_NODE={processes}"] if layout else []),
        # 6 iterations of 8 images per process per epoch, 2 epochs
        f"config.DATA.TRAIN.DATA_LIMIT={48 * processes}",
        "config.OPTIMIZER.num_epochs=2",
        "config.DATA.TRAIN.RANDOM_SYNTHETIC_IMAGES=True",
        f"config.DATA.NUM_DATALOADER_WORKERS={2 if processes == 1 else 1}",
        "config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE=float16",
        f"config.LOSS.seer_swav_loss.queue.queue_length={16 * processes}",
        "config.LOSS.seer_swav_loss.queue.start_iter=3",
        "config.HOOKS.PLUGINS=[seer_test_loss_log]",
    ]


def losses(folder, rank) -> tuple[dict, list[int]]:
    """{iteration: loss repr} (the last logged for each), and the iterations in the
    order they were logged."""
    lines = (Path(folder) / f"losses_rank{rank}.txt").read_text().split()
    iterations, values = [int(i) for i in lines[::2]], lines[1::2]
    return dict(zip(iterations, values, strict=True)), iterations


def probe_environment(**variables) -> dict:
    """The environment for a probe run: one thread per process (two processes share
    two cores), no kill or signal unless asked."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SEER_TEST_") and k not in ("RANK", "WORLD_SIZE")
    }
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in variables.items()})
    return env


def start(command: list, cwd, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(processes: list[subprocess.Popen], timeout=600) -> list[tuple[int, str]]:
    """Wait for processes started together; (rc, output) each."""
    results = []
    for process in processes:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        results.append((process.returncode, output))
    return results


def torchrun() -> str:
    """The torchrun of the interpreter running the tests."""
    return str(Path(sys.executable).with_name("torchrun"))
