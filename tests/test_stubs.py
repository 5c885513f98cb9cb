"""The hand-written _core.pyi names exactly what the extension defines; versions agree."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import bundlefast
from bundlefast import _core

_IGNORED = {"_pybind11_conduit_v1_"}


def _stub() -> ast.Module:
    return ast.parse((Path(bundlefast.__file__).parent / "_core.pyi").read_text())


def _public(names: set[str]) -> set[str]:
    return {n for n in names if not (n.startswith("__") and n.endswith("__")) and n not in _IGNORED}


def test_module_level_names_match():
    stub = _stub()
    declared = set()
    for node in stub.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            declared.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared.add(node.target.id)
    assert _public(declared) == _public(set(dir(_core)))


def test_class_members_match():
    for node in _stub().body:
        if not isinstance(node, ast.ClassDef):
            continue
        declared = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        actual = set(vars(getattr(_core, node.name)))
        assert _public(declared) == _public(actual), node.name


def test_versions_agree():
    assert bundlefast.__version__ == _core.__version__
    try:
        assert importlib.metadata.version("bundlefast") == _core.__version__
    except importlib.metadata.PackageNotFoundError:  # a source-tree build, not installed
        pass
