"""A preset is one row: switching `MODEL.TRUNK.SEER_REGNET.preset` alone builds a
consistent model (head, fine-tuning and linear-evaluation widths follow it)."""

import pytest
import torch
from vissl.models import build_model

from seer_plugins import compose

PRESET = "config.MODEL.TRUNK.SEER_REGNET.preset"
CONFIGS = {
    # config, input size, the model output's expected shapes
    "pretrain/seer_tiny": 32,
    "benchmark/linear/digits": 32,
    "benchmark/low_shot/digits": 32,
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("preset", ["regnety_small", "regnety_tiny"])
def test_switching_the_preset_alone_builds_and_runs(name, preset):
    config = compose([f"config={name}", f"{PRESET}={preset}"])
    torch.manual_seed(0)
    model = build_model(config.MODEL, config.OPTIMIZER).eval()
    size = CONFIGS[name]
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, size, size))
    assert outputs, name
    for output in outputs:
        tensors = output if isinstance(output, list) else [output]
        assert all(t.shape[0] == 2 and torch.isfinite(t).all() for t in tensors)


def test_widths_follow_the_preset():
    small = compose(["config=benchmark/low_shot/digits", f"{PRESET}=regnety_small"])
    assert small.MODEL.HEAD.PARAMS[0][1]["dims"][0] == 368  # regnety_small's res5
    linear = compose(["config=benchmark/linear/digits", f"{PRESET}=regnety_small"])
    heads = [kwargs for _, kwargs in linear.MODEL.HEAD.PARAMS]
    # res4 (pooled 2x1), res5 (1x1) and the global pool of regnety_small
    assert [(h["in_channels"], h["dims"][0]) for h in heads] == [
        (152, 304),
        (368, 368),
        (368, 368),
    ]
