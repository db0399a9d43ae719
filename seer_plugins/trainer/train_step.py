"""`TRAINER.TRAIN_STEP_NAME: seer_train_step`: VISSL's step with device-generic AMP.

VISSL's own torch AMP (`MODEL.AMP_PARAMS.USE_AMP` with `AMP_TYPE: pytorch`) is fp16
under `torch.cuda.amp.autocast` and asserts a CUDA device. This step takes the
precision from `MODEL.AMP_PARAMS.SEER_AMP_DTYPE`:

- `""` (default): no autocast; the step is VISSL's `standard_train_step` unchanged;
- `float16` / `fp16`: `torch.autocast(device, float16)` and a `torch.amp.GradScaler`;
- `bfloat16` / `bf16`: `torch.autocast(device, bfloat16)`, no scaling needed.

Either runs on CPU and GPU. The forward and the loss run under autocast (losses keep
their own float32 islands, as `seer_swav_loss` does); backward and the optimizer
step run outside it. With fp16 the gradients are unscaled right after backward, so
the `on_backward` hooks (gradient clipping, prototype freezing) and LARC see true
gradients, and a step with inf/NaN gradients is skipped by the scaler.

Setting `SEER_AMP_DTYPE` switches `TRAINER.TRAIN_STEP_NAME` from VISSL's
`standard_train_step` to this step at compose time.
"""

import contextlib

import torch
from classy_vision.generic.distributed_util import all_reduce_mean
from vissl.hooks import SSLClassyHookFunctions
from vissl.trainer.train_steps import register_train_step
from vissl.trainer.train_steps.standard_train_step import (
    LastBatchInfo,
    construct_sample_for_model,
    standard_train_step,
)
from vissl.utils.activation_checkpointing import (
    manual_gradient_all_reduce,
    manual_sync_params,
)
from vissl.utils.perf_stats import PerfTimer

from seer_plugins.config import inference
from seer_plugins.config.inference import register_config_inferrer
from seer_plugins.config.precision import AMP_KEY, amp_dtype
from seer_plugins.errors import ConfigError
from seer_plugins.trainer.amp import ensure_grad_scaler

STEP_NAME = "seer_train_step"


@register_config_inferrer(order=inference.COMPONENTS)
def infer_seer_amp(config) -> None:
    if amp_dtype(config) is None:
        return
    amp = config.MODEL.AMP_PARAMS
    if amp.USE_AMP:
        raise ConfigError(
            f"config.MODEL.AMP_PARAMS.{AMP_KEY}",
            amp[AMP_KEY],
            "and MODEL.AMP_PARAMS.USE_AMP=True both ask for mixed precision",
            "set USE_AMP=False (VISSL's CUDA-only fp16 AMP) to use ours",
        )
    step = config.TRAINER.TRAIN_STEP_NAME
    if step == "standard_train_step":
        config.TRAINER.TRAIN_STEP_NAME = STEP_NAME
    elif step != STEP_NAME:
        raise ConfigError(
            "config.TRAINER.TRAIN_STEP_NAME",
            step,
            f"cannot run MODEL.AMP_PARAMS.{AMP_KEY}={amp[AMP_KEY]!r}",
            f"set it to {STEP_NAME!r} (or standard_train_step, which is switched)",
        )


@register_train_step(STEP_NAME)
def seer_train_step(task):
    """One iteration: forward, loss, backward, update, with the hooks of VISSL's step."""
    dtype = amp_dtype(task.config)
    if dtype is None:
        return standard_train_step(task)
    scaler = ensure_grad_scaler(task, dtype)

    task.last_batch = LastBatchInfo()
    perf_stats = task.perf_stats
    timer_train_step = PerfTimer("train_step_total", perf_stats)
    timer_train_step.start()
    with PerfTimer("read_sample", perf_stats):
        sample = construct_sample_for_model(next(task.data_iterator), task)

    grad_context = torch.enable_grad() if task.train else torch.no_grad()
    manual_reduction = task.enable_manual_gradient_reduction
    ddp_context = task.model.no_sync() if manual_reduction else contextlib.nullcontext()
    autocast = torch.autocast(task.device.type, dtype=dtype)

    with grad_context, ddp_context:
        with autocast:
            with PerfTimer("forward", perf_stats):
                if manual_reduction:
                    manual_sync_params(task.model)
                model_output = task.model(sample["input"])
            if len(model_output) == 1:
                model_output = model_output[0]
            target = sample["target"]
            task.last_batch.sample = sample
            task.last_batch.model_output = model_output
            task.run_hooks(SSLClassyHookFunctions.on_forward.name)
            with PerfTimer("loss_compute", perf_stats):
                local_loss = task.loss(model_output, target)

        with PerfTimer("loss_all_reduce", perf_stats):
            task.last_batch.loss = all_reduce_mean(local_loss.detach().clone())
        # The step's one host read of the loss (VISSL's `task.losses`); hooks take
        # it from `loss_value` (`last_loss_value`) instead of reading it again.
        task.last_batch.loss_value = task.last_batch.loss.data.cpu().item()
        task.losses.append(task.last_batch.loss_value * target.size(0))
        _update_meters(task, model_output, target, perf_stats)
        task.last_batch.target = target
        task.run_hooks(SSLClassyHookFunctions.on_loss_and_meter.name)

    if task.train:
        with PerfTimer("backward", perf_stats):
            task.optimizer.zero_grad()
            (scaler.scale(local_loss) if scaler else local_loss).backward()
            if manual_reduction:
                manual_gradient_all_reduce(task.model)
            if scaler:
                scaler.unscale_(task.optimizer)
        task.run_hooks(SSLClassyHookFunctions.on_backward.name)

        with PerfTimer("optimizer_step", perf_stats):
            assert task.where < 1.0, "optimizer step with where=1.0: training is over"
            if scaler:
                scaler.step(task.optimizer, where=task.where)
                scaler.update()
            else:
                task.optimizer.step(where=task.where)
        task.run_hooks(SSLClassyHookFunctions.on_update.name)
        task.num_updates += task.get_global_batchsize()

    timer_train_step.stop()
    timer_train_step.record()
    return task


def last_loss_value(task) -> float:
    """The last step's all-reduced loss as a float, without a second host read
    when this step already made one (VISSL's `standard_train_step` does not keep it).
    """
    value = getattr(task.last_batch, "loss_value", None)
    return float(task.last_batch.loss) if value is None else value


def _update_meters(task, model_output, target, perf_stats) -> None:
    enabled = task.config["METERS"]["enable_training_meter"] or not task.train
    if not task.meters or not enabled:
        return
    with PerfTimer("meters_update", perf_stats):
        if isinstance(model_output, list):
            output_cpu = [x.detach().float().cpu() for x in model_output]
        else:
            output_cpu = model_output.detach().float().cpu()
        for meter in task.meters:
            meter.update(output_cpu, target.detach().cpu())
