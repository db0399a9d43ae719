"""The benchmark's command line and one run: ours, then stock, then the table and JSON."""

import argparse
import datetime
import json
import os
import re
import signal
import sys
import warnings
from pathlib import Path

import torch

from seer_plugins.apps.throughput import measure, sinkhorn_bench
from seer_plugins.apps.throughput.setups import (
    AMP_CHOICES,
    OURS,
    SGD_IMPLS,
    STOCK,
    BenchOptions,
    build_ours,
    build_stock,
    plain_model_config,
)
from seer_plugins.models.regnet_params import PRESETS
from seer_plugins.patches.apex_config import ApexTranslationWarning

# Per device: the preset, batch and crops a run uses unless told otherwise.
DEVICE_DEFAULTS = {
    "cuda": {"preset": "regnety_256gf", "batch": 16, "crops": "2x224,4x96"},
    "cpu": {"preset": "regnety_small", "batch": 4, "crops": "2x64,4x32"},
}
MATMUL_N = {"cuda": 8192, "cpu": 1024}


def parse_crops(text: str) -> tuple[int, ...]:
    """`2x224,4x96` (or `224,224,96`) -> (224, 224, 96, 96, 96, 96)."""
    crops = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(?:(\d+)x)?(\d+)\s*", part)
        if not match:
            raise argparse.ArgumentTypeError(
                f"--crops {text!r}: expected COUNTxSIZE items, e.g. 2x224,4x96"
            )
        crops += [int(match[2])] * int(match[1] or 1)
    return tuple(crops)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="One bare SwAV training step, timed: our seer_1b setup vs stock "
        "VISSL (regnet + swav_head + swav_loss + SGD) on the same RegNetY, batch "
        "and crops. Synthetic data, no loader."
    )
    add = parser.add_argument
    add("--device", default=None, help="cuda, cuda:N or cpu (default: cuda if any)")
    add(
        "--preset",
        choices=list(PRESETS),
        help="default: regnety_256gf on CUDA, regnety_small on CPU",
    )
    add("--batch", type=int, help="images per step (default 16 CUDA, 4 CPU)")
    add("--crops", type=parse_crops, help="e.g. 2x224,4x96 (default on CPU 2x64,4x32)")
    add("--iters", type=int, default=20, help="timed iterations")
    add("--warmup", type=int, default=5, help="untimed iterations first")
    add("--amp", choices=list(AMP_CHOICES), default="none")
    add("--channels-last", action="store_true", help="ours: channels_last trunk")
    add(
        "--pad-group-width-to",
        type=int,
        default=1,
        metavar="M",
        help="ours: zero-pad each group of the 3x3 convs to a multiple of M",
    )
    add("--compile", action="store_true", help="ours: torch.compile the trunk")
    add(
        "--sgd-impl",
        choices=SGD_IMPLS,
        default="default",
        help="ours: torch SGD step implementation under LARC",
    )
    add("--cudnn-benchmark", action="store_true", help="both: cudnn.benchmark")
    add(
        "--activation-checkpointing",
        action="store_true",
        help="both: VISSL's USE_ACTIVATION_CHECKPOINTING (all stages)",
    )
    add(
        "--stock-head",
        choices=["same", "anchor"],
        default="same",
        help="stock head: ours' dims, or the anchor's 10444-10444-128 x 3000",
    )
    add("--only", choices=[OURS, STOCK], help="run one setup (no ratio)")
    add(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Hydra override for ours (repeatable)",
    )
    add(
        "--count-syncs",
        action="store_true",
        help="count one extra step's host synchronisations (CUDA)",
    )
    add(
        "--sinkhorn",
        action="store_true",
        help="instead of the step: time Sinkhorn-Knopp, ours vs VISSL's, on "
        "--batch rows x the config's prototypes",
    )
    add(
        "--time-limit",
        type=float,
        metavar="S",
        help="stop after S seconds (e.g. for --compile); the report says so",
    )
    add("--threads", type=int, help="torch CPU threads")
    add("--matmul-n", type=int, help="side of the matmul timed for MFU")
    add("--json", type=Path, metavar="OUT", help="write the results here")
    return parser


def options_from_args(args) -> BenchOptions:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    defaults = DEVICE_DEFAULTS["cuda" if device.startswith("cuda") else "cpu"]
    return BenchOptions(
        preset=args.preset or defaults["preset"],
        batch=args.batch or defaults["batch"],
        crops=args.crops or parse_crops(defaults["crops"]),
        amp=args.amp,
        activation_checkpointing=args.activation_checkpointing,
        channels_last=args.channels_last,
        pad_group_width_to=args.pad_group_width_to,
        compile=args.compile,
        sgd_impl=args.sgd_impl,
        stock_head=args.stock_head,
        device=device,
        ours_overrides=tuple(args.override),
    )


def run(
    options: BenchOptions,
    iters: int,
    warmup: int,
    only=None,
    cudnn_benchmark=False,
    matmul_n=None,
    count_syncs=False,
) -> dict:
    """Measure ours and stock (or `only` one); returns the JSON-ready report.

    A TimeoutError (`--time-limit`) stops the run; the report keeps what was
    measured and names the setup that did not finish (`timed_out`).
    """
    device = torch.device(options.device)
    torch.backends.cudnn.benchmark = cudnn_benchmark
    plain = plain_model_config(options)
    step_tflop = 3 * measure.forward_flops(plain.MODEL, plain.OPTIMIZER, options) / 1e12
    mm_dtype = options.amp_dtype or torch.float32
    mm_n = matmul_n or MATMUL_N[device.type]
    peak = measure.matmul_tflops(device, mm_dtype, mm_n)

    results, timed_out = {}, None
    for name in (OURS, STOCK):
        if only and name != only:
            continue
        if name == OURS:
            build = lambda: build_ours(options)  # noqa: E731
        else:
            build = lambda: build_stock(options, plain)  # noqa: E731
        try:
            results[name] = measure.measure_setup(
                build, options, iters, warmup, step_tflop, peak, count_syncs
            )
        except Exception:
            # torch.compile wraps the TimeoutError (BackendCompilerFailed).
            if not _TIME_LIMIT["reached"]:
                raise
            timed_out = name
            break
    ratio = measure.ratio(results.get(OURS), results.get(STOCK))
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "environment": measure.environment(device),
        "settings": {
            **{k: v for k, v in vars(options).items() if k != "arch"},
            "arch": str(options.params),
            "iters": iters,
            "warmup": warmup,
            "cudnn_benchmark": cudnn_benchmark,
        },
        "step_model_tflop": step_tflop,
        "tflop_per_image": step_tflop / options.batch,
        "matmul": {"dtype": str(mm_dtype), "n": mm_n, "tflops": peak},
        "results": {k: v.as_dict() for k, v in results.items()},
        "ratio_ours_over_stock": ratio,
        "timed_out": timed_out,
        "table": measure.format_table(list(results.values()), ratio)
        + (f"\n{timed_out}: stopped by --time-limit" if timed_out else ""),
    }


def run_sinkhorn(options: BenchOptions, iters: int, warmup: int) -> dict:
    """The Sinkhorn micro-benchmark at the composed config's size."""
    config = plain_model_config(options)
    swav = config.LOSS.seer_swav_loss
    prototypes = list(config.MODEL.HEAD.PARAMS[0][1]["num_clusters"])[0]
    report = sinkhorn_bench.run_sinkhorn(
        options.batch,
        prototypes,
        swav.num_iters,
        swav.epsilon,
        options.device,
        repeats=iters,
        warmup=warmup,
    )
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "environment": measure.environment(torch.device(options.device)),
        "sinkhorn": report,
        "table": sinkhorn_bench.format_sinkhorn(report),
    }


_TIME_LIMIT = {"reached": False}


def _raise_timeout(signum, frame):
    _TIME_LIMIT["reached"] = True
    raise TimeoutError("--time-limit reached")


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    # Expected: seer_1b's `use_larc: True` becomes seer_sgd, said once per compose.
    warnings.filterwarnings("ignore", category=ApexTranslationWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    options = options_from_args(args)
    if args.time_limit:
        signal.signal(signal.SIGALRM, _raise_timeout)
        # Again every 5 s, in case a library catches the first one and goes on.
        signal.setitimer(signal.ITIMER_REAL, args.time_limit, 5.0)
    if args.sinkhorn:
        report = run_sinkhorn(options, args.iters, args.warmup)
        print(report["table"])
        _write(args.json, report)
        return report
    report = run(
        options,
        args.iters,
        args.warmup,
        args.only,
        args.cudnn_benchmark,
        args.matmul_n,
        args.count_syncs,
    )
    signal.setitimer(signal.ITIMER_REAL, 0)
    env = report["environment"]
    print(
        f"{env['device_name']} ({env['device_type']}), torch {env['torch']}; "
        f"{options.preset}, batch {options.batch}, crops {list(options.crops)}, "
        f"amp {options.amp}; model {report['tflop_per_image']:.4f} TFLOP/image; "
        f"matmul {report['matmul']['dtype']} {report['matmul']['tflops']:.3f} TFLOP/s"
    )
    print(report["table"])
    _write(args.json, report)
    if report["timed_out"]:
        # Do not wait for torch.compile's worker processes at interpreter exit.
        sys.stdout.flush()
        os._exit(0)
    return report


def _write(path: Path | None, report: dict) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
