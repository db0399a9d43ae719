"""The real-tensor side of tests/test_memory_simulation.py: a gloo process that
builds the job and tracks the same two training steps the simulation does
(importable by name in the spawned children, which a test module is not)."""

import json
import os
import sys

import torch
import torch.distributed as dist


def real_steps_worker(rank, world_size, port, overrides, out_dir):
    from seer_plugins.apps.memory_plan.simulate import (
        measure_steps,
        simulation_overrides,
    )
    from seer_plugins.config.compose import compose

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        config = compose(simulation_overrides(overrides, world_size))
        memory, _ = measure_steps(config, fake=False)
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump({"peak": memory.peak, "by_category": memory.by_category}, f)
    finally:
        dist.destroy_process_group()
    # As sharding_workers.larc_worker: no interpreter teardown after gloo's (a
    # child was seen to abort there), once the result is written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
