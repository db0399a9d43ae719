"""A Hydra config source that serves `configs/` as VISSL's `config` group.

VISSL's search path roots hold `config/<group>/<name>.yaml`; our repository keeps the
same files one level up, as `configs/pretrain/...` and `configs/benchmark/...`. This
source maps the group path `config/x` to `<configs_dir>/x` and hides everything else,
so `config=pretrain/seer_1b` finds `configs/pretrain/seer_1b.yaml` from any working
directory while VISSL's own `pkg://configs` keeps serving its stock configs.
`configs/defaults/` (plugin defaults, merged into every config) is not served.
"""

import os

from hydra._internal.core_plugins.file_config_source import FileConfigSource
from hydra._internal.sources_registry import SourcesRegistry
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigLoadError, ConfigResult

from seer_plugins.config.paths import DEFAULTS_FOLDER

SCHEME = "seer"
GROUP = "config"


class SeerConfigSource(FileConfigSource):
    @staticmethod
    def scheme() -> str:
        return SCHEME

    @staticmethod
    def _inside_group(config_path: str) -> str | None:
        """`config/a/b` -> `a/b`, `config` -> ``; None for paths outside the group."""
        config_path = config_path.strip("/")
        if config_path == GROUP:
            return ""
        if config_path.startswith(GROUP + "/"):
            inner = config_path[len(GROUP) + 1 :]
            # configs/defaults/ is merged into every config, never selected.
            if inner.split("/", 1)[0] == DEFAULTS_FOLDER:
                return None
            return inner
        return None

    def load_config(self, config_path: str) -> ConfigResult:
        inner = self._inside_group(config_path)
        if inner is None:
            raise ConfigLoadError(f"Config not found : {config_path}")
        return super().load_config(inner)

    def available(self) -> bool:
        return os.path.isdir(self.path)

    def is_group(self, config_path: str) -> bool:
        if config_path.strip("/") == "":
            return True
        inner = self._inside_group(config_path)
        return inner is not None and super().is_group(inner)

    def is_config(self, config_path: str) -> bool:
        inner = self._inside_group(config_path)
        return bool(inner) and super().is_config(inner)

    def list(self, config_path: str, results_filter: ObjectType | None) -> list[str]:
        want_groups = results_filter in (None, ObjectType.GROUP)
        want_configs = results_filter in (None, ObjectType.CONFIG)
        if config_path.strip("/") == "":
            return [GROUP] if want_groups else []
        inner = self._inside_group(config_path)
        if inner is None or not super().is_group(inner):
            return []
        folder = os.path.join(self.path, inner)
        names = set()
        for entry in os.listdir(folder):
            path = os.path.join(folder, entry)
            hidden = entry == "__pycache__" or (not inner and entry == DEFAULTS_FOLDER)
            if hidden:
                continue
            if os.path.isdir(path) and want_groups:
                names.add(entry)
            elif entry.endswith(".yaml") and os.path.isfile(path) and want_configs:
                names.add(entry[: -len(".yaml")])
        return sorted(names)


def register() -> None:
    SourcesRegistry.instance().register(SeerConfigSource)
