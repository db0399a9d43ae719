"""tools/memory_plan.py: SEER-10B fits its paper's 496 A100-40GB sharded and does not
fit 8 x 80 GB unsharded; per-GPU shares; bad input exits 2 with one error line."""

import pytest

from seer_plugins.apps.memory_plan.command import main
from seer_plugins.apps.memory_plan.plan import GiB, plan_memory

pytestmark = pytest.mark.filterwarnings("ignore:OPTIMIZER.use_larc")

TEN_B = "config=pretrain/seer_10b"


def test_seer_10b_fits_496_a100_sharded_and_not_8_gpus_unsharded(capsys):
    assert main([TEN_B, "--gpus", "496", "--gpu-memory-gb", "40"]) == 0
    out = capsys.readouterr().out
    assert "sharded over 496 GPUs" in out and "of 40 GiB: fits" in out
    assert "activations measured" in out  # the method is stated
    assert main([TEN_B, "--gpus", "8", "--gpu-memory-gb", "80", "--no-shard"]) == 1
    assert "of 80 GiB: does not fit" in capsys.readouterr().out


def test_defaults_are_the_configs_world_and_80_gib(capsys):
    # seer_10b's 62 nodes x 8 GPUs; the activations were measured above (cached).
    assert main([TEN_B]) == 0
    out = capsys.readouterr().out
    assert "sharded over 496 GPUs" in out and "of 80 GiB: fits" in out


def test_shares_per_gpu(capsys):
    # The activations were measured by the test above (cached per config and mode).
    sharded = plan_memory([TEN_B], gpus=496, gpu_memory_gb=40)
    whole = plan_memory([TEN_B], gpus=8, gpu_memory_gb=80, sharded=False)
    # ~9.63B float32 parameters: 35.9 GiB whole; a shard 1/496 of it plus FSDP2's
    # padding of every tensor to ceil(rows / 496) rows (3.5% here).
    assert whole.parameters == pytest.approx(9.63e9 * 4, rel=0.01)
    assert whole.parameters / 496 < sharded.parameters < whole.parameters / 496 * 1.05
    assert whole.gradients == 2 * whole.parameters  # DDP's buckets: a second copy
    assert whole.optimizer_state == whole.parameters  # SGD momentum
    # The largest unit is res5[0]'s 28280 x 28280 conv, gathered in float16.
    assert "res5.block4-0.f.c" in sharded.largest_unit
    assert sharded.gathered == 28280 * 28280 * (3 * 2 + 4)
    assert 1 * GiB < sharded.activations < whole.activations


def test_the_plan_is_of_the_config_as_it_trains_unless_told(capsys):
    tiny = "config=pretrain/seer_tiny"  # trains under DDP
    assert main([tiny, "--gpus", "2", "--gpu-memory-gb", "1"]) == 0
    assert "unsharded" in capsys.readouterr().out
    assert main([tiny, "--gpus", "2", "--gpu-memory-gb", "1", "--shard"]) == 0
    assert "sharded over 2 GPUs" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (
            [TEN_B, "--gpus", "0", "--gpu-memory-gb", "40"],
            "--gpus='0': is not a positive number; an integer > 0",
        ),
        ([TEN_B, "--gpus", "8", "--gpu-memory-gb", "lots"], "--gpu-memory-gb='lots'"),
        ([TEN_B, "--gpus", "8", "--gpu-memory-gb", "-1"], "--gpu-memory-gb='-1'"),
        ([TEN_B, "--gpu-memory-gb", "nan"], "--gpu-memory-gb='nan'"),
        ([TEN_B, "--gpu-memory-gb", "inf"], "--gpu-memory-gb='inf'"),
        (["--gpus", "8", "--gpu-memory-gb", "80"], "config=NAME"),
        (
            ["config=pretrain/seer_10x", "--gpus", "8", "--gpu-memory-gb", "80"],
            "config='pretrain/seer_10x': no such config",
        ),
    ],
)
def test_bad_input_exits_2_with_one_error_line(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err
