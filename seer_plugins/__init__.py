"""seer_plugins: SEER (SwAV on RegNetY) for VISSL 0.1.6 on today's stack.

`import seer_plugins` is all a VISSL project needs: this file is the index of what
that import does. It patches the host (the labelled blocks of explicit calls) and
registers each plugin (one import per registering module, with the names it
registers). `tests/test_registrations.py` checks the names against one table.
Compose-time checks and inferrers run in the order they declare
(:mod:`seer_plugins.config.inference`), not in the order of these imports.
"""

# -- Patches of today's stack, before anything imports VISSL ----------------------
from seer_plugins import compat

compat.apply()  # Kinetics400 alias, numpy aliases, pkg_resources check, warnings

# -- Registrations ------------------------------------------------------------------
# isort: off
from seer_plugins.models import feature_widths  # noqa: E402,F401  resolvers: seer.width, seer.pooled_dim
from seer_plugins.data import class_count  # noqa: E402,F401  resolver: seer.num_classes
from seer_plugins.checks import plugin_names  # noqa: E402,F401  check: check_plugin_names
from seer_plugins.checks import value_types  # noqa: E402,F401  check: check_value_types
from seer_plugins.checks import image_reading  # noqa: E402,F401  check: check_image_reading
from seer_plugins.checks import trunk_config  # noqa: E402,F401  inferrer: check_seer_regnet_config
from seer_plugins.checks import consistency  # noqa: E402,F401  inferrers: check_lr_milestones, check_topk_classes
from seer_plugins.checks import sharding_config  # noqa: E402,F401  inferrer: check_seer_fsdp_config
from seer_plugins.models import seer_regnet  # noqa: E402,F401  trunk: seer_regnet
from seer_plugins.models import seer_swav_head  # noqa: E402,F401  head: seer_swav_head
from seer_plugins.losses import seer_swav_loss  # noqa: E402,F401  loss: seer_swav_loss
from seer_plugins.losses import swav_config  # noqa: E402,F401  inferrer: infer_seer_swav_loss
from seer_plugins.optimizers import seer_sgd  # noqa: E402,F401  optimizer: seer_sgd
from seer_plugins.trainer import train_step  # noqa: E402,F401  train step: seer_train_step; inferrer: infer_seer_amp
from seer_plugins.trainer import task  # noqa: E402,F401  task: seer_self_supervision_task
from seer_plugins.data import low_shot_dataset  # noqa: E402,F401  data source: seer_low_shot
from seer_plugins.data import shard_dataset  # noqa: E402,F401  data source: seer_shards
from seer_plugins.hooks import registry  # noqa: E402,F401  inferrer: resolve_plugin_hooks
from seer_plugins.hooks import bad_images  # noqa: E402,F401  hook: seer_bad_images
from seer_plugins.hooks import swav  # noqa: E402,F401  hooks: seer_swav_queue, seer_prototypes_normalize, seer_prototypes_freeze
from seer_plugins.hooks import collapse  # noqa: E402,F401  hook: seer_collapse_warning
from seer_plugins.hooks import throughput  # noqa: E402,F401  hook: seer_throughput
from seer_plugins.hooks import progress  # noqa: E402,F401  hook: seer_progress_bar
from seer_plugins.hooks import nan_guard  # noqa: E402,F401  hook: seer_nan_guard
from seer_plugins.engines import knn  # noqa: E402,F401  engine: seer_knn
# isort: on

# -- Patches of VISSL's behaviour ---------------------------------------------------
from seer_plugins.patches import (  # noqa: E402
    atomic_checkpoints,
    cpu_feature_extraction,
    disk_sources,
    label_files,
    multi_res_forward,
    resume_files,
    shard_sources,
    vissl_inference,
    vissl_logging,
    weights_init,
)

atomic_checkpoints.install()  # checkpoint files written atomically, links relative
resume_files.install()  # AUTO_RESUME takes the newest checkpoint of either kind
disk_sources.install()  # disk_folder / disk_filelist survive unreadable images
label_files.install()  # .txt/.csv label lists; string labels numbered by train's
shard_sources.install()  # seer_shards splits: their sampler, labels read per sample
weights_init.install()  # WEIGHTS_INIT verified, and loaded into padded blocks
vissl_logging.install()  # VISSL's log calls with stray arguments print once
cpu_feature_extraction.install()  # extract_features runs on CPU too
vissl_inference.install()  # VISSL's own config path: apex translation, our head
multi_res_forward.install()  # multi-crop: one trunk call for all resolutions

# -- The package's face ---------------------------------------------------------------
from seer_plugins.config.compose import compose  # noqa: E402

__all__ = ["compose"]
