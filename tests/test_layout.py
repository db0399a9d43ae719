"""The README's layout section matches the tree, and the repository stands alone."""

import re
import subprocess

from launch_helpers import REPO


def _layout_section() -> str:
    readme = (REPO / "README.md").read_text()
    return readme.split("## Layout", 1)[1].split("```", 2)[1]


def test_readme_layout_lists_every_package_and_nothing_else():
    listed = set(re.findall(r"^  (\w+)/", _layout_section(), flags=re.M))
    packages = {
        p.name
        for p in (REPO / "seer_plugins").iterdir()
        if p.is_dir() and (p / "__init__.py").is_file()
    }
    assert listed == packages


def test_readme_layout_top_level_folders_exist():
    top = set(re.findall(r"^(\w+)/", _layout_section(), flags=re.M))
    assert top and all((REPO / name).is_dir() for name in top), top


def test_nothing_cites_a_document_outside_the_repository():
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = "SEER" + "_SPEC"  # the name of the team's private notes
    citing = [
        f
        for f in files
        if (REPO / f).is_file()
        and f.endswith((".py", ".md", ".yaml", ".txt", ".toml", ".sh"))
        and outside in (REPO / f).read_text(errors="ignore")
    ]
    assert citing == []


def test_every_module_stays_under_400_lines():
    """A module over ~400 lines is two modules (the style guide's rule)."""
    long = {
        str(path.relative_to(REPO)): lines
        for path in (REPO / "seer_plugins").rglob("*.py")
        if (lines := len(path.read_text().splitlines())) >= 400
    }
    assert long == {}
