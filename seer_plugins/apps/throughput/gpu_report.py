"""The report of `benchmarks/gpu_check.sh`: one JSON to commit and a short table.

The script runs each step with its own time limit and records it in
`<out>/steps.tsv` (name, status, seconds, log, command); the throughput runs
write `<out>/results/<step>.json`, the environment `<out>/results/env.json`, and
the launcher's log holds VISSL's loss lines and `seer_throughput`'s img/s. This
module reads them all, whatever failed, and writes
`<out>/docs/perf/<device>_<date>.json` with at least `device`, `ours_img_s`,
`stock_img_s` (batch 16, the same benchmark process), `batch64_peak_gb`, the
commands and the versions.

    python -m seer_plugins.apps.throughput.gpu_report --out gpu_check_out
"""

import argparse
import datetime
import json
import re
import shutil
from pathlib import Path

# Numerics (issue 16): the fast setup's first losses against the plain one's,
# same seed and batch. fp16 autocast with different kernels (channels_last,
# padded groups, autotuned algorithms) moves a ~9.7 SwAV loss (ln 16,000) by far
# less than 0.01; float32 on CPU by less than 1e-4.
NUMERICS_LOSSES = 5
NUMERICS_ATOL = {"fp16": 1e-2, "bf16": 3e-2, "none": 1e-4}

_LOSS = re.compile(r"iter: (\d+); lr: [^;]*; loss: ([^;]+);")
_PEAK = re.compile(r"peak_mem\(M\): (\d+)")
_THROUGHPUT = re.compile(r"iter (\d+) throughput: ([\d.]+) img/s")
_SYNCS = re.compile(r"host syncs in one iteration: (.+)")


def read_steps(out: Path) -> list[dict]:
    """The steps as the script recorded them; a benchmark that its own
    `--time-limit` stopped (torch.compile) reads `TIME CAP`."""
    steps = []
    path = out / "steps.tsv"
    for line in path.read_text().splitlines() if path.is_file() else []:
        name, status, seconds, log, command = (line.split("\t") + [""] * 5)[:5]
        result = _json(out / "results" / f"{name}.json") or {}
        if status == "OK" and result.get("timed_out"):
            status = f"TIME CAP ({result['timed_out']} stopped)"
        steps.append(
            {
                "name": name,
                "status": status,
                "seconds": int(seconds or 0),
                "log": log,
                "command": command,
            }
        )
    return steps


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _result(report: dict | None, setup: str, key: str):
    if not report:
        return None
    return (report.get("results", {}).get(setup) or {}).get(key)


def launcher_summary(log: Path) -> dict:
    """VISSL's per-iteration losses, the throughput hook's img/s, host syncs."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    losses = {int(i): v.strip() for i, v in _LOSS.findall(text)}
    throughput = [(int(i), float(v)) for i, v in _THROUGHPUT.findall(text)]
    peaks = [int(v) for v in _PEAK.findall(text)]
    syncs = _SYNCS.findall(text)
    return {
        "iterations_logged": len(losses),
        "losses": [_number(v) for _, v in sorted(losses.items())],
        "throughput_img_s": throughput,
        "img_s_last": throughput[-1][1] if throughput else None,
        "peak_mem_mb": max(peaks) if peaks else None,
        "host_syncs_per_iteration": syncs[-1] if syncs else None,
    }


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def numerics(plain: dict | None, fast: dict | None, amp: str) -> dict:
    """The fast setup's first losses against the plain one's (same seed, batch)."""
    a, b = _result(plain, "ours", "losses"), _result(fast, "ours", "losses")
    if not a or not b:
        return {"status": "not measured (a run is missing)"}
    n = min(NUMERICS_LOSSES, len(a), len(b))
    diff = max(abs(x - y) for x, y in zip(a[:n], b[:n], strict=True))
    atol = NUMERICS_ATOL[amp]
    return {
        "losses_compared": n,
        "plain": a[:n],
        "fast": b[:n],
        "max_abs_difference": diff,
        "atol": atol,
        "status": "OK" if diff <= atol else "FAILED",
    }


def device_slug(env: dict | None, dry_run: bool) -> str:
    name = (env or {}).get("device_name") or "unknown"
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    slug = slug.removeprefix("nvidia_")
    return f"{slug}_dry_run" if dry_run else slug


def build_report(out: Path, dry_run: bool, amp: str) -> dict:
    results = out / "results"
    env = _json(results / "env.json")
    runs = {p.stem: _json(p) for p in sorted(results.glob("tp_*.json"))}
    levers = runs.get("tp_levers")
    b64 = runs.get("tp_b64_ckpt")
    report = {
        "device": (env or {}).get("device_name"),
        "dry_run": dry_run,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "ours_img_s": _result(levers, "ours", "img_per_s"),
        "stock_img_s": _result(levers, "stock", "img_per_s"),
        "ratio_ours_over_stock": (levers or {}).get("ratio_ours_over_stock"),
        "batch": ((levers or {}).get("settings") or {}).get("batch"),
        "ours_setup": "padded groups + channels_last + cudnn benchmark, "
        f"{amp} (stock: same batch, crops and cudnn benchmark)",
        "batch64_peak_gb": _result(b64, "ours", "peak_mem_gb"),
        "batch64_img_s": _result(b64, "ours", "img_per_s"),
        "levers_img_s": {
            name: _result(run, "ours", "img_per_s") for name, run in runs.items()
        },
        "peak_gb": {
            name: _result(run, "ours", "peak_mem_gb") for name, run in runs.items()
        },
        "host_syncs_per_bare_step": {
            setup: _result(levers, setup, "host_syncs") for setup in ("ours", "stock")
        },
        "numerics": numerics(runs.get("tp_plain"), levers, amp),
        "seer_1b_launcher": launcher_summary(out / "logs" / "seer_1b.log"),
        "seer_1b_sharded_launcher": launcher_summary(
            out / "logs" / "seer_1b_sharded.log"
        ),
        "sinkhorn": (_json(results / "sinkhorn.json") or {}).get("sinkhorn"),
        "versions": env,
        "steps": read_steps(out),
    }
    return report


def format_summary(report: dict) -> str:
    def fmt(value, spec=".1f"):
        return "-" if value is None else format(value, spec)

    lines = [f"{'step':<16} {'status':<22} {'s':>5}  log"]
    for step in report["steps"]:
        lines.append(
            f"{step['name']:<16} {step['status']:<22} {step['seconds']:>5}  "
            f"{step['log']}"
        )
    launcher = report["seer_1b_launcher"]
    lines += [
        "",
        f"device: {report['device']}{' (dry run)' if report['dry_run'] else ''}",
        f"ours {fmt(report['ours_img_s'])} img/s, stock {fmt(report['stock_img_s'])} "
        f"img/s at batch {report['batch']}: ours/stock "
        f"{fmt(report['ratio_ours_over_stock'], '.2f')}x",
        f"batch 64 (activation checkpointing): peak "
        f"{fmt(report['batch64_peak_gb'])} GB, {fmt(report['batch64_img_s'])} img/s",
        f"numerics: {report['numerics']['status']}"
        + (
            f" (max |loss diff| {report['numerics']['max_abs_difference']:.2e} "
            f"<= {report['numerics']['atol']:g})"
            if "max_abs_difference" in report["numerics"]
            else ""
        ),
        f"seer_1b launcher: {launcher['iterations_logged']} iterations logged, "
        f"{fmt(launcher['img_s_last'])} img/s, host syncs/iteration "
        f"{launcher['host_syncs_per_iteration'] or '-'}",
    ]
    sharded = report.get("seer_1b_sharded_launcher") or {}
    if sharded.get("iterations_logged"):
        lines.append(
            f"seer_1b sharded (FSDP2): {sharded['iterations_logged']} iterations "
            f"logged, {fmt(sharded['img_s_last'])} img/s, peak "
            f"{fmt((sharded.get('peak_mem_mb') or 0) / 1024)} GB"
        )
    return "\n".join(lines)


def environment() -> dict:
    """Versions and the device, as the check's steps see them."""
    import importlib
    import platform
    import subprocess

    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__}
    for module in ("torchvision", "numpy", "timm", "hydra", "omegaconf", "vissl"):
        try:
            env[module] = getattr(importlib.import_module(module), "__version__", "?")
        except Exception as error:  # reported in the JSON, not raised
            env[module] = f"not importable: {error}"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env |= {
            "device_name": props.name,
            "device_memory_gb": props.total_memory / 1e9,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    else:
        env["device_name"] = "cpu"
    if Path("/dev/shm").is_dir():
        env["dev_shm_free_gb"] = shutil.disk_usage("/dev/shm").free / 1e9
    repo = Path(__file__).resolve().parents[3]
    git = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    env["commit"] = git.stdout.strip() or "unknown (no git metadata)"
    return env


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--amp", default="fp16", choices=sorted(NUMERICS_ATOL))
    parser.add_argument(
        "--environment", action="store_true", help="only write results/env.json"
    )
    args = parser.parse_args(argv)
    if args.environment:
        env = environment()
        (args.out / "results").mkdir(parents=True, exist_ok=True)
        (args.out / "results" / "env.json").write_text(json.dumps(env, indent=2))
        print(json.dumps(env, indent=2))
        return env
    report = build_report(args.out, args.dry_run, args.amp)
    stamp = report["date"][:10]
    name = f"{device_slug(report['versions'], args.dry_run)}_{stamp}.json"
    path = args.out / "docs" / "perf" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(format_summary(report))
    print(f"report: {path}")
    return report


if __name__ == "__main__":
    main()
