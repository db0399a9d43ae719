"""seer_swav_loss: same numbers as VISSL's swav_loss, CPU, autocast, queue, config."""

import math

import pytest
import torch
import torch.nn.functional as F
from gpu import needs_gpu

from seer_plugins.losses import SeerSwAVCriterion, SeerSwAVLoss

DIM = 16


def _outputs(num_crops, batch, prototypes, seed=0, dtype=torch.float32):
    """A SwAV head's output: [embedding, scores_0, ...], crop-major rows."""
    g = torch.Generator().manual_seed(seed)
    z = F.normalize(torch.randn(num_crops * batch, DIM, generator=g), dim=1)
    protos = [F.normalize(torch.randn(k, DIM, generator=g), dim=1) for k in prototypes]
    return [z.to(dtype)] + [(z @ c.t()).to(dtype) for c in protos], protos


def _loss_config(**overrides):
    config = {
        "embedding_dim": DIM,
        "temperature": 0.1,
        "use_double_precision": False,
        "normalize_last_layer": True,
        "num_iters": 3,
        "epsilon": 0.05,
        "num_crops": 6,
        "crops_for_assign": [0, 1],
        "num_prototypes": [30],
        "temp_hard_assignment_iters": 0,
        "output_dir": None,
        "freeze_prototypes_iters": 0,
        "queue": {"queue_length": 0, "start_iter": 0, "local_queue_length": 0},
    }
    config.update(overrides)
    return config


def _stock_loss(config, monkeypatch):
    """VISSL's SwAVLoss on CPU: its criterion asks for a CUDA device index."""
    import vissl.losses.swav_loss as stock
    from vissl.config import AttrDict

    monkeypatch.setattr(stock, "get_cuda_device_index", lambda: -1)
    return stock.SwAVLoss(AttrDict(dict(config, output_dir=".")))


CASES = {
    "2x6 crops": {},
    "mixed 2+4, one assign crop": {"crops_for_assign": [0]},
    "assign from a small crop": {"crops_for_assign": [1, 3]},
    "two prototype heads": {"num_prototypes": [30, 12]},
    "float64": {"use_double_precision": True},
    "10 iterations, epsilon 0.03": {"num_iters": 10, "epsilon": 0.03},
    "hard assignment": {"temp_hard_assignment_iters": 5},
    "3 crops": {"num_crops": 3},
}


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_equals_vissl_swav_loss(overrides, monkeypatch):
    config = _loss_config(**overrides)
    output, _ = _outputs(config["num_crops"], 5, config["num_prototypes"])
    expected = _stock_loss(config, monkeypatch)(output, None)
    ours = SeerSwAVLoss.from_config(config)(output, None)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, expected.float(), rtol=1e-5, atol=1e-5)


def test_equals_vissl_with_a_full_queue(monkeypatch):
    config = _loss_config(
        queue={"queue_length": 8, "start_iter": 0, "local_queue_length": 8}
    )
    output, protos = _outputs(6, 4, [30], seed=1)
    stock = _stock_loss(config, monkeypatch)
    ours = SeerSwAVLoss.from_config(config)
    queued = F.normalize(torch.randn(2, 8, DIM), dim=-1)
    stock.swav_criterion.local_emb_queue.copy_(queued)
    # As a resumed run would: the queue comes back full from a checkpoint.
    state = ours.state_dict()
    state["criterion.queue_embeddings"] = queued
    state["criterion.queue_filled"] = torch.tensor(8)
    ours.load_state_dict(state)

    class Head:  # what VISSL's queue hook hands its criterion
        nmb_heads = 1
        prototypes0 = torch.nn.Linear(DIM, 30, bias=False)

    Head.prototypes0.weight.data.copy_(protos[0])
    stock.swav_criterion.compute_queue_scores(Head)
    ours.refresh_queue_scores([protos[0]])
    torch.testing.assert_close(
        ours(output, None), stock(output, None), rtol=1e-5, atol=1e-5
    )
    # Both pushed the assignment crops' embeddings, newest first.
    torch.testing.assert_close(
        ours.criterion.queue_embeddings, stock.swav_criterion.local_emb_queue
    )


def test_queue_fills_from_start_iter_and_uses_only_filled_rows():
    criterion = SeerSwAVCriterion(
        num_crops=2,
        crops_for_assign=[0, 1],
        num_prototypes=[10],
        embedding_dim=DIM,
        local_queue_length=6,
        queue_start_iter=1,
    )
    protos = F.normalize(torch.randn(10, DIM), dim=1)
    for iteration in range(4):
        output, _ = _outputs(2, 4, [10], seed=iteration)
        output[1] = output[0] @ protos.t()
        if criterion.queue_active:
            criterion.refresh_queue_scores([protos])
            assert criterion._queue_scores[0].shape == (
                2,
                int(criterion.queue_filled),
                10,
            )
        loss = criterion(output[0], output[1:])
        assert torch.isfinite(loss)
        # Iteration 0 is before start_iter: nothing queued; then 4 rows per step.
        assert int(criterion.queue_filled) == min(6, 4 * iteration)
    newest = output[0].reshape(2, 4, DIM)
    torch.testing.assert_close(criterion.queue_embeddings[:, :4], newest)


def test_counters_come_back_from_a_checkpoint():
    def criterion():
        return SeerSwAVCriterion(
            num_crops=2,
            crops_for_assign=[0],
            num_prototypes=[10],
            embedding_dim=DIM,
            local_queue_length=8,
            queue_start_iter=2,
        )

    trained = criterion()
    output, protos = _outputs(2, 4, [10])
    for _ in range(3):
        if trained.queue_active:
            trained.refresh_queue_scores(protos)
        trained(output[0], output[1:])
    resumed = criterion()
    resumed.load_state_dict(trained.state_dict())
    assert (resumed._iteration, resumed._filled) == (3, 4)
    assert int(resumed.num_iteration) == 3 and resumed.queue_active


def test_a_queue_in_use_needs_fresh_scores():
    criterion = SeerSwAVCriterion(
        num_crops=2,
        crops_for_assign=[0],
        num_prototypes=[10],
        embedding_dim=DIM,
        local_queue_length=4,
    )
    output, protos = _outputs(2, 4, [10])
    criterion(output[0], output[1:])  # fills the queue
    with pytest.raises(RuntimeError, match="seer_swav_queue"):
        criterion(output[0], output[1:])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_scores_under_autocast(dtype):
    criterion = SeerSwAVCriterion(
        num_crops=6,
        crops_for_assign=[0, 1],
        num_prototypes=[16_000],
        embedding_dim=DIM,
        epsilon=0.03,
        num_iters=10,
    )
    output, _ = _outputs(6, 4, [16_000], dtype=dtype)
    scores = output[1].clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = criterion(output[0], [scores])
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    # The same numbers as float32 math on the same (rounded) scores.
    reference = criterion(output[0].float(), [output[1].float()])
    torch.testing.assert_close(loss, reference)
    loss.backward()
    assert torch.isfinite(scores.grad).all()


def test_collapse_value_is_mean_log_prototypes():
    loss = SeerSwAVLoss.from_config(_loss_config(num_prototypes=[100, 10]))
    assert loss.collapse_value == pytest.approx((math.log(100) + math.log(10)) / 2)


def test_from_config_errors_teach():
    with pytest.raises(ValueError, match=r"unknown keys \['epsilom'\]"):
        SeerSwAVLoss.from_config(_loss_config(epsilom=0.05))
    with pytest.raises(ValueError, match="num_crops is not set"):
        SeerSwAVLoss.from_config(_loss_config(num_crops=None))
    with pytest.raises(ValueError, match="crops_for_assign"):
        SeerSwAVLoss.from_config(_loss_config(crops_for_assign=[6]))
    loss = SeerSwAVLoss.from_config(_loss_config())
    output, _ = _outputs(6, 2, [31])
    with pytest.raises(ValueError, match=r"expected \(12, 30\)"):
        loss(output, None)
    with pytest.raises(ValueError, match="embedding"):
        loss(output[1], None)


@needs_gpu
def test_equals_vissl_swav_loss_on_gpu(monkeypatch):
    import vissl.losses.swav_loss as stock
    from vissl.config import AttrDict

    monkeypatch.setattr(stock, "get_cuda_device_index", lambda: 0)
    config = _loss_config(num_prototypes=[30, 12])
    output, _ = _outputs(6, 5, [30, 12])
    output = [x.cuda() for x in output]
    expected = stock.SwAVLoss(AttrDict(dict(config, output_dir=".")))(output, None)
    ours = SeerSwAVLoss.from_config(config).cuda()(output, None)
    assert ours.is_cuda
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_finite_under_gpu_autocast_with_16k_prototypes(dtype):
    criterion = SeerSwAVCriterion(
        num_crops=6,
        crops_for_assign=[0, 1],
        num_prototypes=[16_000],
        embedding_dim=DIM,
        epsilon=0.03,
        num_iters=10,
    )
    output, _ = _outputs(6, 16, [16_000])
    scores = output[1].cuda().requires_grad_()
    with torch.autocast("cuda", dtype=dtype):
        loss = criterion(output[0].cuda(), [scores.to(dtype)])
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(scores.grad).all()
