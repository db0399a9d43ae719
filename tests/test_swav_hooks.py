"""SwAV plugin hooks on a stand-in task: prototypes by role, freeze, normalise, queue,
collapse warning, throughput/MFU and the progress bar."""

import io
import logging
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from seer_plugins.hooks.collapse import SeerCollapseWarningHook
from seer_plugins.hooks.progress import SeerProgressBarHook
from seer_plugins.hooks.swav import (
    SeerFreezePrototypesHook,
    SeerNormalizePrototypesHook,
    SeerSwAVQueueHook,
)
from seer_plugins.hooks.throughput import SeerThroughputHook, lookup_peak_tflops
from seer_plugins.losses import SeerSwAVCriterion, SeerSwAVLoss
from seer_plugins.models.prototypes import find_prototype_layers

DIM = 8


class ListingHead(nn.Module):
    """A head that says which layers are its prototypes (as seer_swav_head does)."""

    def __init__(self, clusters=(10, 6)):
        super().__init__()
        self.proj = nn.Linear(16, DIM, bias=False)  # same role shape as a prototype
        self.layers = nn.ModuleList(nn.Linear(DIM, k, bias=False) for k in clusters)

    def prototype_layers(self):
        return list(self.layers)


def _stock_head(clusters=(10,), use_bias=True):
    from vissl.config import AttrDict
    from vissl.models.heads.swav_prototypes_head import SwAVPrototypesHead

    config = AttrDict({"HEAD": {"BATCHNORM_EPS": 1e-5, "BATCHNORM_MOMENTUM": 0.1}})
    return SwAVPrototypesHead(
        config,
        dims=[16, 12, DIM],
        use_bn=True,
        num_clusters=list(clusters),
        use_bias=use_bias,
    )


class Model(nn.Module):
    """VISSL's base model layout: `trunk` and `heads`."""

    def __init__(self, head):
        super().__init__()
        self.trunk = nn.Linear(4, 16)
        self.heads = nn.ModuleList([head])


class Wrapped(nn.Module):  # DDP's `.module`
    def __init__(self, module):
        super().__init__()
        self.module = module


def test_finds_listed_prototypes_through_wrappers():
    head = ListingHead()
    layers = find_prototype_layers(Wrapped(Model(head)), [10, 6], DIM)
    assert layers == list(head.layers)


@pytest.mark.parametrize("use_bias", [True, False])
def test_finds_vissl_swav_head_prototypes_by_role(use_bias):
    head = _stock_head(clusters=(10, 7), use_bias=use_bias)
    layers = find_prototype_layers(Model(head), [10, 7], DIM)
    assert layers == [head.prototypes0, head.prototypes1]


def test_missing_prototypes_error_says_what_it_found():
    with pytest.raises(
        ValueError, match=r"\[\(10, 8\)\] not found .*found bias-free layers \[\]"
    ):
        find_prototype_layers(Model(nn.Linear(16, DIM)), [10], DIM)


def _swav_loss(**kwargs):
    criterion = SeerSwAVCriterion(
        num_crops=2,
        crops_for_assign=[0],
        num_prototypes=[10, 6],
        embedding_dim=DIM,
        local_queue_length=kwargs.pop("local_queue_length", 0),
    )
    return SeerSwAVLoss(criterion, **kwargs)


def _task(loss, model, iteration=0, **extra):
    return SimpleNamespace(
        loss=loss,
        model=model,
        base_model=model,
        iteration=iteration,
        train=True,
        **extra,
    )


def test_freeze_drops_prototype_gradients_until_the_iteration():
    head = ListingHead()
    model = Model(head)
    hook = SeerFreezePrototypesHook()
    loss = _swav_loss(freeze_prototypes_iters=3)
    for iteration, frozen in [(0, True), (2, True), (3, False)]:
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        hook.on_backward(_task(loss, model, iteration))
        assert all((layer.weight.grad is None) == frozen for layer in head.layers)
        assert head.proj.weight.grad is not None and model.trunk.weight.grad is not None


def test_normalize_makes_prototype_rows_unit_vectors():
    head = ListingHead()
    model = Model(head)
    for layer in head.layers:
        layer.weight.data.mul_(7)
    hook = SeerNormalizePrototypesHook()
    hook.on_start(_task(_swav_loss(normalize_prototypes=False), model))
    assert not torch.allclose(head.layers[0].weight.norm(dim=1), torch.ones(10))
    task = _task(_swav_loss(normalize_prototypes=True), model)
    hook = SeerNormalizePrototypesHook()
    hook.on_update(task)
    for layer in head.layers:
        torch.testing.assert_close(
            layer.weight.norm(dim=1), torch.ones(layer.out_features)
        )
    assert not torch.allclose(head.proj.weight.norm(dim=1), torch.ones(DIM))


def test_queue_hook_refreshes_scores_only_for_a_loss_with_an_active_queue():
    head = ListingHead()
    model = Model(head)
    calls = []
    loss = _swav_loss(local_queue_length=4)
    loss.refresh_queue_scores = calls.append
    SeerSwAVQueueHook().on_forward(_task(loss, model))
    assert calls == [[layer.weight for layer in head.layers]]

    no_queue = _swav_loss()
    no_queue.refresh_queue_scores = calls.append
    SeerSwAVQueueHook().on_forward(_task(no_queue, model))
    # Not a SwAV loss at all: nothing to ask, nothing done.
    SeerSwAVQueueHook().on_forward(_task(nn.CrossEntropyLoss(), model))
    assert len(calls) == 1


def _run_collapse_hook(hook, losses, loss_module, start=1):
    for step, value in enumerate(losses, start=start):
        task = _task(loss_module, None, iteration=step)
        task.last_batch = SimpleNamespace(loss=torch.tensor(value))
        hook.on_step(task)


def test_collapse_warning_when_the_loss_sits_at_log_k(caplog):
    loss = _swav_loss()
    log_k = loss.collapse_value
    assert log_k == pytest.approx((math.log(10) + math.log(6)) / 2)
    hook = SeerCollapseWarningHook(window=5, relative_tolerance=0.02)
    with caplog.at_level(logging.WARNING):
        _run_collapse_hook(hook, [log_k * 0.5] * 5 + [log_k * 1.01] * 4, loss)
        assert hook.warnings == 0  # 4 collapsed iterations < window
        _run_collapse_hook(hook, [log_k * 0.99] * 3, loss, start=10)
    assert hook.warnings == 1  # once per episode
    assert "collapse" in caplog.text and "epsilon" in caplog.text
    _run_collapse_hook(hook, [log_k * 0.5] + [log_k] * 5, loss, start=20)
    assert hook.warnings == 2  # re-armed after leaving the band


def test_collapse_warning_waits_for_the_prototype_freeze():
    loss = _swav_loss(freeze_prototypes_iters=100)
    hook = SeerCollapseWarningHook(window=5)
    _run_collapse_hook(hook, [loss.collapse_value] * 50, loss)
    assert hook.warnings == 0


def test_collapse_hook_ignores_losses_without_a_collapse_value():
    hook = SeerCollapseWarningHook(window=1)
    _run_collapse_hook(hook, [2.3] * 3, nn.CrossEntropyLoss())
    assert hook.warnings == 0


def test_throughput_and_mfu_from_counted_flops(caplog):
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
    hook = SeerThroughputHook(images_per_iteration=16, log_frequency=2, peak_tflops=1.0)
    task = _task(None, model, iteration=0, device=torch.device("cpu"))
    hook.on_phase_start(task)
    with caplog.at_level(logging.INFO):
        for _ in range(4):
            model(torch.randn(16, 32))
            task.iteration += 1
            hook.on_step(task)
    # 2 * (32*64 + 64*8) * 16 forward FLOPs, x3 for forward + backward.
    assert hook.flops_per_iteration == 3 * 2 * (32 * 64 + 64 * 8) * 16
    assert hook.images_per_second > 0 and 0 < hook.mfu < 1
    assert "img/s" in caplog.text and "MFU" in caplog.text


def test_peak_lookup_prefers_the_specific_name():
    assert lookup_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert lookup_peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert lookup_peak_tflops("Some CPU") is None


def test_progress_bar_shows_loss_lr_and_images_per_second():
    out = io.StringIO()
    hook = SeerProgressBarHook(images_per_iteration=32, file=out)
    task = _task(None, None, iteration=0, max_iteration=3)
    task.optimizer = SimpleNamespace(options_view=SimpleNamespace(lr=0.25))
    hook.on_start(task)
    for i in range(3):
        task.last_batch = SimpleNamespace(loss=torch.tensor(4.0 - i))
        task.iteration += 1
        hook.on_step(task)
    hook.on_end(task)
    text = out.getvalue()
    assert "3/3" in text and "loss=2.0000" in text and "lr=0.25" in text
    assert "img/s=" in text
