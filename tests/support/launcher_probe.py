"""Entry script for launcher tests: registers a marker hook, then launches.

Registered at module top level on purpose, like a user's own entry script: spawned
workers re-import this module, so the hook exists in every worker. Each built hook
writes `hook_marker_rank<R>` into the checkpoint folder when training starts.

    python launcher_probe.py local OVERRIDES...
    python launcher_probe.py slurm-debug OVERRIDES...   (submitit's in-process executor)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch.distributed as dist  # noqa: E402
from vissl.utils.checkpoint import get_checkpoint_folder  # noqa: E402

import seer_plugins  # noqa: E402,F401
from seer_plugins.apps.launcher import launch_on_slurm, main  # noqa: E402
from seer_plugins.config.compose import compose_with_args  # noqa: E402
from seer_plugins.hooks.base import SeerHook  # noqa: E402
from seer_plugins.hooks.registry import register_hook  # noqa: E402


@register_hook("seer_test_marker")
class SeerTestMarkerHook(SeerHook):
    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    @classmethod
    def from_config(cls, config):
        return cls(get_checkpoint_folder(config))

    def on_start(self, task):
        rank = dist.get_rank() if dist.is_initialized() else 0
        names = [type(hook).__name__ for hook in task.hooks]
        Path(self.folder, f"hook_marker_rank{rank}").write_text("\n".join(names))


if __name__ == "__main__":
    mode, overrides = sys.argv[1], sys.argv[2:]
    if mode == "local":
        main(overrides)
    elif mode == "slurm-debug":
        args, config = compose_with_args(overrides)
        launch_on_slurm(config, args.engine_name, cluster="debug").result()
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected local or slurm-debug")
