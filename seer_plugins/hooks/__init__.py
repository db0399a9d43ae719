"""Training hooks: a registry VISSL lacks, and the hook generator our launcher passes.

Importing this package registers the plugin hooks (`seer_*`) into the registry.
"""

from seer_plugins.hooks import (  # noqa: F401
    bad_images,
    collapse,
    nan_guard,
    progress,
    swav,
    throughput,
)
