"""Shared fixtures (helpers live in launch_helpers.py, importable from tests)."""

import sys

import pytest
from launch_helpers import LAUNCHER, run_script

# First, before any test module imports VISSL: the compatibility shims must be in
# place when `vissl.data` imports ClassyVision.
import seer_plugins  # noqa: E402,F401


@pytest.fixture
def run_launcher(tmp_path):
    """Run tools/run_distributed_engines.py from a directory outside the repository."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()

    def run(overrides, timeout=600):
        rc, output = run_script(LAUNCHER, overrides, cwd=workdir, timeout=timeout)
        assert rc == 0, f"launcher failed (rc={rc}):\n{output[-6000:]}"
        return output

    return run


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory):
    """The folder of an uninterrupted `seer_tiny` run through our launcher that logs
    every loss (tests/support/resume_runs.py), per process count, made once: what
    the exact-resume and launcher tests compare against."""
    from resume_runs import PROBE, finish, probe_environment, resume_overrides, start

    made = {}

    def folder(processes):
        if processes not in made:
            root = tmp_path_factory.mktemp(f"whole{processes}")
            run = root / "uninterrupted"
            command = [sys.executable, PROBE, *resume_overrides(run, processes)]
            [(rc, out)] = finish([start(command, root, probe_environment())])
            assert rc == 0, out[-3000:]
            made[processes] = run
        return made[processes]

    return folder
