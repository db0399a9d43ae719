"""seer_plugins: SEER (SwAV on RegNetY) for VISSL 0.1.6 on today's stack.

Importing the package applies the compatibility shims once and registers every
plugin into VISSL's and ClassyVision's registries. Registration only: each import
below exists for its side effect.
"""

from seer_plugins import compat

compat.apply()

from seer_plugins import atomic_checkpoints  # noqa: E402
from seer_plugins import checks as _checks  # noqa: E402,F401
from seer_plugins import train_step as _train_step  # noqa: E402,F401
from seer_plugins.config import compose  # noqa: E402
from seer_plugins.data import low_shot_dataset as _low_shot_dataset  # noqa: E402,F401
from seer_plugins.data import robust_images as _robust_images  # noqa: E402,F401
from seer_plugins.hooks import registry as _hook_registry  # noqa: E402,F401
from seer_plugins.losses import SeerSwAVLoss  # noqa: E402,F401
from seer_plugins.models import SeerRegNet, SeerSwAVHead  # noqa: E402,F401
from seer_plugins.optimizers import seer_sgd as _seer_sgd  # noqa: E402,F401
from seer_plugins.tasks import exact_resume_task as _exact_resume  # noqa: E402,F401

atomic_checkpoints.install()

__all__ = ["compose"]
