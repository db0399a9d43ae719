"""Shared fixtures (helpers live in launch_helpers.py, importable from tests)."""

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
