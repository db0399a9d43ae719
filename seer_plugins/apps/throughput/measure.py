"""Timing one bare training step (no data loader), and what it is compared against.

A step is what `seer_train_step` does with a batch: zero the gradients, forward of
all crops (VISSL's multi-resolution forward: one trunk call per run of equal sizes)
and the loss under autocast, backward (scaled for fp16), optimizer step. Hooks
(prototype normalisation, logging) are left out, as in the reference measurement's
"bare training step" (docs/performance.md).
"""

import contextlib
import gc
import math
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode
from vissl.models import build_model

from seer_plugins.apps.throughput.setups import BenchOptions, TrainingSetup
from seer_plugins.trainer.host_syncs import HostSyncCounter


@dataclass
class SetupResult:
    """One setup's measurements; times in ms, memory in GB (1e9 bytes)."""

    name: str
    params_m: float  # the published model's; stored_params_m adds padded zeros
    build_s: float
    step_ms_median: float
    step_ms: list[float]
    img_per_s: float
    crops_per_s: float
    achieved_tflops: float | None = None
    mfu: float | None = None
    peak_mem_gb: float | None = None
    losses: list[float] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    # Host syncs of one step (`--count-syncs`, CUDA): total and per source line.
    host_syncs: int | None = None
    host_sync_sites: dict[str, int] | None = None
    stored_params_m: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def synthetic_crops(options: BenchOptions, seed: int = 0) -> list[torch.Tensor]:
    """One fixed batch: a (batch, 3, s, s) tensor per crop, normalised-image scale."""
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(options.batch, 3, s, s, generator=generator).to(options.device)
        for s in options.crops
    ]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class BareStep:
    """`seer_train_step`'s work on a fixed batch, callable once per iteration."""

    def __init__(self, setup: TrainingSetup, options: BenchOptions):
        self.setup = setup
        self.device = torch.device(options.device)
        self.dtype = options.amp_dtype
        self.scaler = (
            torch.amp.GradScaler(self.device.type)
            if self.dtype is torch.float16
            else None
        )

    def __call__(self, crops: list[torch.Tensor], where: float) -> torch.Tensor:
        setup, scaler = self.setup, self.scaler
        autocast = (
            torch.autocast(self.device.type, dtype=self.dtype)
            if self.dtype is not None
            else contextlib.nullcontext()
        )
        setup.optimizer.zero_grad()
        with autocast:
            output = setup.model(crops)
            if len(output) == 1:  # one head, as VISSL's step unwraps it
                output = output[0]
            loss = setup.loss(output, None)
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.unscale_(setup.optimizer)
            scaler.step(setup.optimizer, where=where)
            scaler.update()
        else:
            setup.optimizer.step(where=where)
        return loss.detach()


def time_steps(
    setup: TrainingSetup,
    options: BenchOptions,
    iters: int,
    warmup: int,
    sync_counter: HostSyncCounter | None = None,
) -> tuple[list[float], list[float]]:
    """Per-iteration wall times (ms, after warm-up) and every iteration's loss.

    With `sync_counter`, one more step runs (untimed) with its host syncs counted.
    """
    device = torch.device(options.device)
    step = BareStep(setup, options)
    crops = synthetic_crops(options)
    setup.model.train()
    total = warmup + iters
    times, losses = [], []
    for i in range(total):
        _sync(device)
        start = time.perf_counter()
        loss = step(crops, where=i / (100 * total))
        _sync(device)
        elapsed = time.perf_counter() - start
        losses.append(float(loss))
        if i >= warmup:
            times.append(1e3 * elapsed)
    if sync_counter is not None:
        sync_counter.start()
        step(crops, where=total / (100 * (total + 1)))
        sync_counter.stop()
    return times, losses


def forward_flops(model_config, optimizer_config, options: BenchOptions) -> int:
    """FLOPs of one forward of all crops, counted on the meta device (no compute).

    Counted on the network itself (no padding): these are the model FLOPs MFU uses.
    """
    with torch.device("meta"):
        model = build_model(model_config, optimizer_config)
    crops = [torch.empty(options.batch, 3, s, s, device="meta") for s in options.crops]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(crops)
    return counter.get_total_flops()


def matmul_tflops(
    device: torch.device, dtype: torch.dtype, n: int, reps: int = 10
) -> float:
    """Measured dense matmul rate (TFLOP/s) of an n x n x n product in `dtype`."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    elapsed = time.perf_counter() - start
    return 2 * n**3 * reps / elapsed / 1e12


def measure_setup(
    build,
    options: BenchOptions,
    iters: int,
    warmup: int,
    step_tflop: float | None,
    peak_tflops: float | None,
    count_syncs: bool = False,
) -> SetupResult:
    """Build with `build()` (timed), run the steps, collect the figures, free it all.

    The setup is dropped before returning, so the next one's peak memory starts
    from an empty device.
    """
    device = torch.device(options.device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    setup = build()
    build_s = time.perf_counter() - start
    name, num_params, overrides = setup.name, setup.num_params, setup.overrides
    stored_params = setup.num_stored_params
    counter = HostSyncCounter() if count_syncs else None
    times, losses = time_steps(setup, options, iters, warmup, counter)
    del setup
    gc.collect()
    median_s = statistics.median(times) / 1e3
    result = SetupResult(
        name=name,
        params_m=num_params / 1e6,
        stored_params_m=stored_params / 1e6,
        build_s=round(build_s, 2),
        step_ms_median=1e3 * median_s,
        step_ms=times,
        img_per_s=options.batch / median_s,
        crops_per_s=options.batch * len(options.crops) / median_s,
        losses=losses,
        overrides=overrides,
    )
    if counter is not None and counter.supported:
        result.host_syncs, result.host_sync_sites = counter.total, dict(counter.sites)
    if step_tflop:
        result.achieved_tflops = step_tflop / median_s
        if peak_tflops:
            result.mfu = result.achieved_tflops / peak_tflops
    if device.type == "cuda":
        result.peak_mem_gb = torch.cuda.max_memory_allocated(device) / 1e9
        torch.cuda.empty_cache()
    return result


def environment(device: torch.device) -> dict:
    import vissl

    info = {
        "device_type": device.type,
        "device_name": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "vissl": getattr(vissl, "__version__", "0.1.6"),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def ratio(ours: SetupResult | None, stock: SetupResult | None) -> float | None:
    """ours/stock throughput (img/s); None unless both ran."""
    if ours is None or stock is None or not stock.img_per_s:
        return None
    value = ours.img_per_s / stock.img_per_s
    return value if math.isfinite(value) else None


def format_table(results: list[SetupResult], ratio_value: float | None) -> str:
    header = (
        f"{'setup':<6} {'params M':>9} {'step ms':>9} {'img/s':>8} "
        f"{'TFLOP/s':>8} {'MFU':>6} {'peak GB':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in results:

        def opt(value, fmt):
            return format(value, fmt) if value is not None else "-"

        lines.append(
            f"{r.name:<6} {r.params_m:>9.1f} {r.step_ms_median:>9.1f} "
            f"{r.img_per_s:>8.2f} {opt(r.achieved_tflops, '>8.3g')} "
            f"{opt(r.mfu, '>6.1%')} {opt(r.peak_mem_gb, '>8.1f')}"
            + (f"  host syncs/step: {r.host_syncs}" if r.host_syncs is not None else "")
        )
    if ratio_value is not None:
        lines.append(f"ours/stock img/s: {ratio_value:.3f}x")
    return "\n".join(lines)
