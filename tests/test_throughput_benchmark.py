"""benchmarks/throughput.py: ours and stock VISSL both build, train and are timed.

CPU: a tiny preset for 2 timed iterations, through the script as a user runs it.
GPU: the same with the levers on; skipped without CUDA.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gpu import needs_gpu

from seer_plugins.apps.throughput.run import parse_crops
from seer_plugins.apps.throughput.setups import BenchOptions, multicrop_groups

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"
RESULT_KEYS = {
    "name",
    "params_m",
    "step_ms_median",
    "step_ms",
    "img_per_s",
    "crops_per_s",
    "achieved_tflops",
    "mfu",
    "peak_mem_gb",
    "losses",
    "overrides",
}


def _run_script(tmp_path, *args, timeout=300):
    out = tmp_path / "throughput.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(out.read_text()), proc.stdout


def _check_report(report, iters, batch):
    assert set(report["results"]) == {"ours", "stock"}
    for name, result in report["results"].items():
        assert RESULT_KEYS <= set(result), name
        assert result["name"] == name
        assert len(result["step_ms"]) == iters
        assert result["step_ms_median"] > 0 and result["img_per_s"] > 0
        assert result["img_per_s"] == pytest.approx(
            batch / (result["step_ms_median"] / 1e3)
        )
        assert 0 < result["mfu"] and result["achieved_tflops"] > 0
        assert all(map(lambda x: x == x, result["losses"]))  # no NaN
    assert report["ratio_ours_over_stock"] > 0
    assert report["ratio_ours_over_stock"] == pytest.approx(
        report["results"]["ours"]["img_per_s"] / report["results"]["stock"]["img_per_s"]
    )
    assert report["matmul"]["tflops"] > 0 and report["step_model_tflop"] > 0


def test_cpu_run_of_ours_and_stock(tmp_path):
    report, stdout = _run_script(
        tmp_path,
        *("--device", "cpu", "--preset", "regnety_tiny", "--batch", "4"),
        *("--crops", "2x32,4x16", "--iters", "2", "--warmup", "1"),
        *("--threads", "1", "--matmul-n", "256"),
    )
    _check_report(report, iters=2, batch=4)
    ours, stock = report["results"]["ours"], report["results"]["stock"]
    # Built from the composed configs: our plugins against VISSL's own components.
    assert "config=pretrain/seer_1b" in ours["overrides"]
    assert "config.MODEL.TRUNK.NAME=regnet" in stock["overrides"]
    assert "config.LOSS.name=swav_loss" in stock["overrides"]
    # The same network: seer_regnet and VISSL's regnet have equal parameter counts
    # (the heads are the same dims too).
    assert ours["params_m"] == pytest.approx(stock["params_m"])
    assert ours["peak_mem_gb"] is None  # CUDA only
    assert report["environment"]["device_type"] == "cpu"
    assert "ours/stock img/s" in stdout and "ours/stock img/s" in report["table"]


def test_crops_and_options():
    assert parse_crops("2x224,4x96") == (224, 224, 96, 96, 96, 96)
    assert parse_crops("32,16") == (32, 16)
    assert multicrop_groups((224, 224, 96, 96, 96, 96)) == ([224, 96], [2, 4])
    with pytest.raises(ValueError, match="valid"):
        BenchOptions(preset="regnety_bogus")
    with pytest.raises(ValueError, match="valid"):
        BenchOptions(amp="fp8")


@needs_gpu
def test_gpu_run_with_levers(tmp_path):
    report, _ = _run_script(
        tmp_path,
        *("--device", "cuda", "--preset", "regnety_small", "--batch", "8"),
        *("--crops", "2x128,4x64", "--iters", "3", "--warmup", "2"),
        *("--amp", "bf16", "--channels-last", "--pad-group-width-to", "16"),
        "--cudnn-benchmark",
    )
    _check_report(report, iters=3, batch=8)
    for result in report["results"].values():
        assert result["peak_mem_gb"] > 0
    assert report["environment"]["device_type"] == "cuda"
