"""Every public module, class, function and method of the package says what it is for.

Public means: a name without a leading underscore, at module level or in a public class (methods
included; dunder methods and nested helpers excluded). Help pages, the guide and `help()` in a REPL all
read these docstrings.
"""

from __future__ import annotations

import ast
from pathlib import Path

import limner

ROOT = Path(limner.__file__).parent


def missing_docstrings(root: Path = ROOT) -> list[str]:
    """`path:line name` of every public definition without a docstring, and every module without one."""
    out: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent)
        tree = ast.parse(path.read_text(), filename=str(path))
        if path.name != "__init__.py" and ast.get_docstring(tree) is None:
            out.append(f"{rel}:1 <module>")
        for node in tree.body:
            out += _check(node, rel, prefix="")
    return out


def _check(node: ast.AST, rel: Path, prefix: str) -> list[str]:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return []
    if node.name.startswith("_"):
        return []
    out = [] if ast.get_docstring(node) else [f"{rel}:{node.lineno} {prefix}{node.name}"]
    if isinstance(node, ast.ClassDef):
        for child in node.body:
            # overrides of the base class's contract (nn.Module.forward and the like) still say what they do
            out += _check(child, rel, prefix=f"{node.name}.")
    return out


def test_every_public_definition_has_a_docstring() -> None:
    missing = missing_docstrings()
    assert not missing, f"{len(missing)} public definitions lack a docstring:\n" + "\n".join(missing)


def test_the_check_sees_a_missing_docstring(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text('"""Module."""\n\ndef f():\n    pass\n\nclass C:\n    """C."""\n\n'
                              '    def g(self):\n        pass\n\n    def _h(self):\n        pass\n')
    assert [m.split(" ")[1] for m in missing_docstrings(pkg)] == ["f", "C.g"]
