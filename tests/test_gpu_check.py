"""benchmarks/gpu_check.sh: every step recorded, failures included, and a report.

The slow test runs `--dry-run` as CI does: the GPU check's steps on CPU with the
tiny preset, in the current environment.
"""

import json
import os
import subprocess
import sys

import pytest
from launch_helpers import REPO

from seer_plugins.apps.throughput.gpu_report import (
    device_slug,
    launcher_summary,
    numerics,
)

SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
STEPS = [
    "install",
    "environment",
    "tp_levers",
    "tp_b64_ckpt",
    "seer_1b",
    "tp_plain",
    "tp_bf16",
    "tp_bf16_b32",
    "gpu_tests",
    "sinkhorn",
    "tp_fused_sgd",
    "tp_compile",
    "seer_1b_sharded",
]


def _run(tmp_path, *args, python=sys.executable, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in ("OUT", "PYTHONPATH")}
    env["PYTHON"] = python
    out = tmp_path / "out"
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--out", str(out), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    steps = [
        line.split("\t")
        for line in (out / "steps.tsv").read_text().splitlines()
        if line.strip()
    ]
    return proc, out, {s[0]: s for s in steps}


def test_a_failing_step_is_recorded_and_the_next_one_runs(tmp_path):
    # An interpreter that fails at once: every step fails, each is recorded with
    # its log, and the script still reaches the last one.
    proc, out, steps = _run(tmp_path, "--dry-run", python="false", timeout=120)
    assert list(steps) == STEPS, proc.stdout[-2000:]
    for name in STEPS[1:]:
        status, log = steps[name][1], steps[name][3]
        assert status == "FAILED (rc 1)", (name, status)
        assert (out / log).is_file()
    assert steps["install"][1] == "SKIPPED (dry run)"


def test_report_pieces():
    assert device_slug({"device_name": "NVIDIA H200"}, False) == "h200"
    assert device_slug({"device_name": "cpu"}, True) == "cpu_dry_run"
    plain = {"results": {"ours": {"losses": [9.7, 9.69, 9.68, 9.6, 9.5, 9.4]}}}
    fast = {"results": {"ours": {"losses": [9.701, 9.69, 9.68, 9.6, 9.5, 1.0]}}}
    result = numerics(plain, fast, "fp16")
    assert result["status"] == "OK" and result["losses_compared"] == 5
    assert result["max_abs_difference"] == pytest.approx(1e-3)
    assert numerics(plain, None, "fp16")["status"].startswith("not measured")


def test_launcher_log_is_read(tmp_path):
    log = tmp_path / "seer_1b.log"
    log.write_text(
        "INFO Rank: 0; [ep: 0] iter: 0; lr: 0.01; loss: 9.68; btime(ms): 0; "
        "peak_mem(M): 30000;\n"
        "INFO Rank: 0; [ep: 0] iter: 1; lr: 0.01; loss: 9.67; btime(ms): 500; "
        "peak_mem(M): 31000;\n"
        "INFO iter 5 throughput: 30.5 img/s\nINFO iter 10 throughput: 31.5 img/s\n"
        "INFO host syncs in one iteration: 4 (a.py:1 x4)\n"
    )
    summary = launcher_summary(log)
    assert summary["losses"] == [9.68, 9.67] and summary["img_s_last"] == 31.5
    assert summary["peak_mem_mb"] == 31000
    assert summary["host_syncs_per_iteration"] == "4 (a.py:1 x4)"


@pytest.mark.slow
def test_dry_run_runs_every_step_and_writes_the_report(tmp_path):
    proc, out, steps = _run(tmp_path, "--dry-run")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert list(steps) == STEPS
    for name in STEPS[1:]:
        if name != "tp_compile":
            assert steps[name][1] == "OK", (name, steps[name], proc.stdout[-3000:])
    # torch.compile on 2 CPU cores takes minutes: its time cap stops it.
    assert steps["tp_compile"][1] in ("OK", "TIME CAP (ours stopped)")
    # The table comes last, then the report's path.
    assert proc.stdout.rstrip().splitlines()[-1].startswith("report: ")
    (path,) = (out / "docs" / "perf").glob("cpu_dry_run_*.json")
    report = json.loads(path.read_text())
    assert report["dry_run"] and report["device"] == "cpu"
    assert report["ours_img_s"] > 0 and report["stock_img_s"] > 0
    assert "batch64_peak_gb" in report  # CUDA only: None on CPU
    assert report["numerics"]["status"] == "OK"
    assert report["seer_1b_launcher"]["iterations_logged"] == 6
    assert report["seer_1b_sharded_launcher"]["iterations_logged"] == 8
    assert report["versions"]["vissl"] == "0.1.6"
    assert report["sinkhorn"]["max_abs_difference"] < 1e-6
