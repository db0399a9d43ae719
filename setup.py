"""seer_plugins: SEER pretraining and evaluation as VISSL plugins.

VISSL itself is installed separately (`pip install --no-deps vissl==0.1.6`): its
wheel pins numpy 1.19 and hydra-core 1.0 and would not install on Python 3.11.
The Makefile does both steps.
"""

from pathlib import Path

from setuptools import find_packages, setup

REQUIREMENTS = [
    line.strip()
    for line in Path(__file__).with_name("requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

setup(
    name="seer-plugins",
    version="0.1.0",
    description="SEER (SwAV on RegNetY) for VISSL 0.1.6 on today's Python stack",
    python_requires=">=3.10",
    packages=find_packages(include=["seer_plugins", "seer_plugins.*"])
    + ["seer_plugins.configs"],
    # The YAML (configs/: pretrain/, benchmark/ and the plugin defaults/) lives at
    # the repository root and is installed as seer_plugins/configs.
    package_dir={"seer_plugins.configs": "configs"},
    package_data={"seer_plugins.configs": ["**/*.yaml"]},
    install_requires=REQUIREMENTS,
    # `seer <command>`, the same as `python -m seer_plugins <command>`.
    entry_points={"console_scripts": ["seer = seer_plugins.cli:main"]},
)
