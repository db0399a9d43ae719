"""The launcher's preflight of `MODEL.WEIGHTS_INIT`: every trunk tensor the run
expects comes from the file, planned on a model built on the meta device before any
process starts (the plan and its refusals: :mod:`seer_plugins.checkpoints.load_plan`).
"""

import torch
from vissl.models import build_model

from seer_plugins.checkpoints.load_plan import (
    load_weights_file,
    model_shapes,
    plan_load,
    verify,
)
from seer_plugins.checkpoints.sharded_load import sharded_load_plan
from seer_plugins.sharding.config import sharding_enabled


def check_weights_init(config) -> None:
    """Preflight: plan the load on a meta-device model and verify it."""
    path = config.MODEL.WEIGHTS_INIT.get("PARAMS_FILE", "") or ""
    checkpoint = load_weights_file(path)
    with torch.device("meta"):
        model = build_model(config.MODEL, config.OPTIMIZER)
    plan = None
    if sharding_enabled(config):
        plan = sharded_load_plan(config, model, path, checkpoint)
    if plan is None:
        plan = plan_load(config, checkpoint, model_shapes(model), path)
    verify(config, plan, path)
