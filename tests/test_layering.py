"""The architecture as the README draws it, checked on the source: the app imports the
cores, the cores never import Gradio or the app, `kernels_playground` never imports
`menny_core`, everything stands on `menny_base`, and no package has an import circle."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("menny_base", "kernels_playground", "menny_core", "menny_app")
# What each package may import of the project's packages (itself aside).
ALLOWED = {
    "menny_base": set(),
    "kernels_playground": {"menny_base"},
    "menny_core": {"menny_base", "kernels_playground"},
    "menny_app": {"menny_base", "kernels_playground", "menny_core"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules=frozenset()) -> set[str]:
    """The modules `path` imports (absolute names), wherever in the file the import is.
    `from pkg import mod` (mod one of `modules`) depends on pkg.mod, not on pkg's __init__."""
    names = set()
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = (package or module_name(path)).split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                names.add(submodule if submodule in modules else base)
    return names


def graph() -> dict[str, set[str]]:
    modules = {
        module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }
    return {
        name: {t for t in imports_of(path, modules) if t in modules and t != name}
        for name, path in modules.items()
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_lies_below_it(package):
    wrong = {
        (name, target)
        for name, targets in graph().items()
        if name.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in ALLOWED[package] | {package}
    }
    assert not wrong


def test_the_cores_never_import_gradio():
    for package in ("menny_base", "kernels_playground", "menny_core"):
        for path in (ROOT / package).rglob("*.py"):
            assert not {n for n in imports_of(path) if n.split(".")[0] == "gradio"}, path


def test_no_package_has_an_import_circle():
    edges = graph()
    # Within a package, an import of the package itself (its __init__) is not an edge that
    # can close a circle worth reporting: __init__ files only re-export.
    inner = {
        name: {t for t in targets if t.split(".")[0] == name.split(".")[0] and t not in PACKAGES}
        for name, targets in edges.items()
    }
    state: dict[str, str] = {}
    circles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(inner.get(name, ())):
            if state.get(target) == "open":
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(inner):
        if name not in state:
            visit(name, [name])
    assert not circles


def test_the_checker_sees_a_circle(tmp_path, monkeypatch):
    """The circle search itself, on two modules that import each other."""
    package = tmp_path / "menny_base"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from menny_base import b\n")
    (package / "b.py").write_text("from menny_base.a import thing\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGES", ("menny_base",))
    with pytest.raises(AssertionError):
        test_no_package_has_an_import_circle()
