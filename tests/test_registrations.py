"""`import seer_plugins` registers exactly these names, and the README lists them.

One literal table: a new plugin, a lost registration or a renamed one changes it on
purpose. Ours are the entries whose class or function lives in seer_plugins (VISSL's
own `disk_folder` / `disk_filelist` names are served by our dataset: a patch, listed
under data sources too).
"""

import re

from classy_vision.losses import LOSS_REGISTRY
from classy_vision.optim import OPTIMIZER_REGISTRY
from classy_vision.tasks import TASK_REGISTRY
from launch_helpers import REPO
from omegaconf.basecontainer import BaseContainer
from vissl.data import DATASET_SOURCE_MAP
from vissl.engines.engine_registry import _ENGINE_REGISTRY
from vissl.models.heads import MODEL_HEADS_REGISTRY
from vissl.models.trunks import MODEL_TRUNKS_REGISTRY
from vissl.trainer.train_steps import TRAIN_STEP_REGISTRY

import seer_plugins  # noqa: F401
from seer_plugins.config import inference
from seer_plugins.hooks.registry import known_hooks

REGISTERED = {
    "trunk": ["seer_regnet"],
    "head": ["seer_swav_head"],
    "loss": ["seer_swav_loss"],
    "optimizer": ["seer_sgd"],
    "train step": ["seer_train_step"],
    "task": ["seer_self_supervision_task"],
    "data source": ["disk_filelist", "disk_folder", "seer_low_shot", "seer_shards"],
    "hook": [
        "seer_bad_images",
        "seer_collapse_warning",
        "seer_nan_guard",
        "seer_progress_bar",
        "seer_prototypes_freeze",
        "seer_prototypes_normalize",
        "seer_swav_queue",
        "seer_throughput",
    ],
    "engine": ["seer_knn"],
    "config resolver": ["seer.num_classes", "seer.pooled_dim", "seer.width"],
    "compose-time check": [
        "check_image_reading",
        "check_plugin_names",
        "check_value_types",
    ],
    "compose-time inferrer": [
        "check_lr_milestones",
        "check_seer_fsdp_config",
        "check_seer_regnet_config",
        "check_topk_classes",
        "infer_seer_amp",
        "infer_seer_swav_loss",
        "resolve_plugin_hooks",
    ],
}


def _ours(registry) -> list[str]:
    return sorted(
        name
        for name, entry in registry.items()
        if getattr(entry, "__module__", "").startswith("seer_plugins.")
    )


def registered_names() -> dict[str, list[str]]:
    return {
        "trunk": _ours(MODEL_TRUNKS_REGISTRY),
        "head": _ours(MODEL_HEADS_REGISTRY),
        "loss": _ours(LOSS_REGISTRY),
        "optimizer": _ours(OPTIMIZER_REGISTRY),
        "train step": _ours(TRAIN_STEP_REGISTRY),
        "task": _ours(TASK_REGISTRY),
        "data source": _ours(DATASET_SOURCE_MAP),
        "hook": [h for h in known_hooks() if h.startswith("seer_")],
        "engine": _ours(_ENGINE_REGISTRY),
        "config resolver": sorted(
            name for name in BaseContainer._resolvers if name.startswith("seer.")
        ),
        "compose-time check": sorted(f.__name__ for f in inference.registered_checks()),
        "compose-time inferrer": sorted(
            f.__name__ for f in inference.registered_inferrers()
        ),
    }


def test_import_registers_exactly_the_table():
    assert registered_names() == REGISTERED


def test_index_names_every_registered_name():
    index = (REPO / "seer_plugins" / "__init__.py").read_text()
    for names in REGISTERED.values():
        for name in names:
            if name not in ("disk_filelist", "disk_folder"):
                assert re.search(rf"\b{name}\b", index), name


def test_readme_plugin_table_lists_every_name():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## What is in the package", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([a-z_.]+)`", section))
    for kind, names in REGISTERED.items():
        missing = [n for n in names if n not in listed]
        assert not missing, f"README's plugin table lacks {kind} {missing}"


def _string_constants(path) -> list[str]:
    import ast

    tree = ast.parse(path.read_text())
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_each_registered_name_is_typed_once():
    """A registered name is a string in one place, where it is registered; every
    other module imports that constant (a retyped name can drift from it)."""
    # Names given as strings (the checks and inferrers are function names); VISSL's
    # own data source names are VISSL's.
    kinds = [k for k in REGISTERED if not k.startswith("compose-time")]
    names = [
        name
        for kind in kinds
        for name in REGISTERED[kind]
        if name not in ("disk_filelist", "disk_folder")
    ]
    typed = {name: [] for name in names}
    for path in sorted((REPO / "seer_plugins").rglob("*.py")):
        for value in _string_constants(path):
            if value in typed:
                typed[value].append(str(path.relative_to(REPO)))
    assert {n: places for n, places in typed.items() if len(places) != 1} == {}
