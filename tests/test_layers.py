"""Layers import downward only (docs/design.md, "Packages, layers and what a machine installs"):
every import in every module of the installed packages, at module level or inside a function, is
checked against the layer order, and no module reads another module's private attribute."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["hgdagger.common", "recorder", "policy_server", "teleop", "sim",
          "hgdagger.robots", "hgdagger.loop", "hgdagger.cli", "hgdagger.benchmarks"]
TOP = {"hgdagger.robots", "hgdagger.loop", "hgdagger.cli", "hgdagger.benchmarks"}  # the top layer: these may import each other


def layer_of(module: str) -> int | None:
    for i, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return min(i, LAYERS.index("hgdagger.loop")) if prefix in TOP else i
    return None


def modules() -> list[tuple[str, Path]]:
    out = []
    for package in ("hgdagger", "recorder", "policy_server", "teleop", "sim"):
        for path in sorted((ROOT / package).rglob("*.py")):
            out.append((".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"), path))
    return out


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_every_import_points_down_the_layers():
    upward = []
    for name, path in modules():
        mine = layer_of(name)
        for line, target in imports(path):
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {name} imports {target}")
    assert upward == []


def test_the_layer_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "mod.py"
    bad.write_text("def f():\n    from sim.registry import make_env\n")
    assert layer_of("recorder.run") < layer_of(dict(imports(bad))[2])


def test_no_module_reads_another_modules_private_attributes():
    """`other._thing` on an imported module or class of this project is how seams rot; that shape,
    and the record queue's former private `.q`, are checked."""
    offenders = []
    for name, path in modules():
        tree = ast.parse(path.read_text())
        aliases = set()  # names bound to modules or classes of this project
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                aliases |= {a.asname or a.name.split(".")[0] for a in n.names if layer_of(a.name) is not None}
            elif isinstance(n, ast.ImportFrom) and n.module and layer_of(n.module) is not None:
                aliases |= {a.asname or a.name for a in n.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in aliases):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
            if isinstance(node, ast.Attribute) and node.attr == "q" and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "records":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: records.q")
    assert offenders == []
