"""The demo end to end in quick mode (1 seed, 1 epoch per run), as `make demo` runs
it: a fresh process of tools/run_demo.py."""

import json

import pytest
from launch_helpers import REPO, run_script

pytestmark = pytest.mark.slow


def test_quick_demo(tmp_path):
    out = tmp_path / "demo"
    rc, output = run_script(
        REPO / "tools" / "run_demo.py", ["--quick", "--out", str(out)], cwd=tmp_path
    )
    assert rc == 0, output[-4000:]
    records = json.loads((out / "results.json").read_text())
    assert {tuple(sorted(r)) for r in records} == {
        ("init", "label_fraction", "protocol", "seed", "top1")
    }
    got = {(r["protocol"], r["label_fraction"], r["init"], r["seed"]) for r in records}
    assert got == {
        (protocol, fraction, init, 0)
        for protocol in ("linear", "finetune")
        for fraction in (0.01, 0.1)
        for init in ("seer", "random")
    }
    assert all(0.0 <= r["top1"] <= 100.0 for r in records)
    for name in ("pretrain_loss.png", "accuracy.png"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "timing.json").read_text())["total_seconds"] > 0


def test_out_path_is_checked(tmp_path):
    rc, output = run_script(
        REPO / "tools" / "run_demo.py",
        ["--quick", "--out", str(tmp_path / "x")],
        cwd=tmp_path,
    )
    assert rc != 0 and "demo" in output
