"""Every plugin key's default lives in configs/defaults/ only: no code restates it.

Code that reads a plugin key takes the value from the config, or, where the config
may lack it, from the defaults files (`seer_plugins.config.defaults`); a plain
module's keyword default reads the same files. This test walks the package's source
for the ways a default gets typed a second time, for every key the defaults files
give a value (null means "inferred" or "the architecture's own" and has no value to
restate):

- `section.get("KEY", <literal>)`, `getattr(section, "KEY", <literal>)`;
- `section.get("KEY") or <literal>`;
- a parameter or dataclass field whose literal default is the key's, under the
  key's name (`window=100` for `WINDOW: 100`, `queue_start_iter=0` for
  `queue.start_iter: 0`) or a name made of some of its words (`max_fraction` for
  `MAX_BAD_IMAGE_FRACTION`).

The key may be written as a string or as a module constant holding it.
"""

import ast
from pathlib import Path

from launch_helpers import REPO

from seer_plugins.config.defaults import plugin_defaults

PACKAGE = REPO / "seer_plugins"


def _leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{path}.")
        else:
            yield path, key, value


def plugin_keys() -> dict[str, list[tuple[str, object]]]:
    """Key name -> [(dotted path, default)] of the keys the defaults give a value."""
    keys: dict[str, list[tuple[str, object]]] = {}
    for path, key, value in _leaves(plugin_defaults()):
        if value is not None:
            keys.setdefault(key, []).append((path, value))
    return keys


def _literal(node):
    """(True, value) when `node` is a literal other than None, else (False, None)."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    return value is not None, value


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "string"` constants."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            if isinstance(node.value.value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = node.value.value
    return found


def _key_of(node, strings: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return strings.get(node.id)
    return None


def _get_call_key(node, strings) -> str | None:
    """`x.get(KEY, ...)` -> KEY."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
    ):
        return _key_of(node.args[0], strings)
    return None


def _words(name: str) -> list[str]:
    return [w for w in name.lower().split("_") if w]


def _named_after(name: str, key: str, literal, default, mentioned: bool) -> bool:
    """A parameter or field `name` with the default `literal` restates `key`'s
    `default` (see the module doc): the same value, under the key's name, or under
    some of its words in a module that names the key."""
    if type(literal) is not type(default) or literal != default:
        return False  # another value is another setting (k-NN's temperature)
    name, lowered = name.lower(), key.lower()
    if name == lowered or name.endswith(f"_{lowered}"):
        return True
    words = _words(name)
    return mentioned and len(words) >= 2 and set(words) <= set(_words(key))


def _mentioned(tree: ast.Module) -> set[str]:
    """Every key a string constant of the module names (alone or in a dotted path)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.update(node.value.split("."))
    return names


def restatements(path: Path, keys, root: Path = REPO) -> list[str]:
    """`file:line: KEY ...` for every default of `keys` that `path` restates."""
    tree = ast.parse(path.read_text())
    strings = _module_strings(tree)
    mentioned = _mentioned(tree)
    found = []

    def report(node, key, how):
        places = ", ".join(f"{p}: {v!r}" for p, v in keys[key])
        found.append(f"{path.relative_to(root)}:{node.lineno}: {how} restates {places}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            key = _get_call_key(node, strings)
            if key in keys and len(node.args) > 1 and _literal(node.args[1])[0]:
                report(node, key, f".get({key!r}, literal)")
            is_getattr = isinstance(node.func, ast.Name) and node.func.id == "getattr"
            if is_getattr and len(node.args) == 3:
                key = _key_of(node.args[1], strings)
                if key in keys and _literal(node.args[2])[0]:
                    report(node, key, f"getattr(..., {key!r}, literal)")
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            key = _get_call_key(node.values[0], strings)
            if key in keys and any(_literal(v)[0] for v in node.values[1:]):
                report(node, key, f".get({key!r}) or literal")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            pairs = list(
                zip(
                    positional[len(positional) - len(args.defaults) :],
                    args.defaults,
                    strict=True,
                )
            )
            pairs += [
                (a, d)
                for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                if d is not None
            ]
            for arg, default in pairs:
                _restated(arg.arg, default, node, keys, mentioned, report)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(
                    item.target, ast.Name
                ):
                    if item.value is not None:
                        _restated(
                            item.target.id, item.value, item, keys, mentioned, report
                        )
    return found


def _restated(name, default_node, node, keys, mentioned, report) -> None:
    is_literal, literal = _literal(default_node)
    if not is_literal:
        return
    for key, places in keys.items():
        if any(
            _named_after(name, key, literal, value, key in mentioned)
            for _, value in places
        ):
            report(node, key, f"{name}={literal!r}")


def test_no_code_restates_a_plugin_default():
    keys = plugin_keys()
    assert {
        "pad_group_width_to",
        "temperature",
        "WINDOW",
        "AUTO_WRAP_THRESHOLD",
    } <= set(keys)
    found = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in restatements(path, keys)
    ]
    assert found == [], "\n".join(found)


def test_the_guard_sees_each_way_of_restating(tmp_path):
    keys = plugin_keys()
    sample = tmp_path / "seer_plugins_sample.py"
    sample.write_text(
        "KEY = 'WINDOW'\n"
        "BUDGET = 'DATA.TRAIN.MAX_BAD_IMAGE_FRACTION'\n"
        "def f(section, window=100, max_fraction=0.01, crops=1):\n"
        "    a = section.get('RELATIVE_TOLERANCE', 0.02)\n"
        "    b = section.get(KEY) or 100\n"
        "    c = getattr(section, 'PLUGINS', [])\n"
        "    d = section.get('WINDOW', None)\n"  # no literal: not a restatement
        "    return a, b, c, d\n"
        "class Options:\n"
        "    pad_group_width_to: int = 1\n"
    )
    found = restatements(sample, keys, root=tmp_path)
    text = "\n".join(found)
    for fragment in (
        "window=100",
        "max_fraction=0.01",
        ".get('RELATIVE_TOLERANCE', literal)",
        ".get('WINDOW') or literal",
        "getattr(..., 'PLUGINS', literal)",
        "pad_group_width_to=1",
    ):
        assert fragment in text, text
    assert len(found) == 6, text
