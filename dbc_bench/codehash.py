"""A fingerprint of the code a job runs: the job's entry files and every module of this project
they import, followed statically (imports inside functions included).

Each file enters as its syntax tree without docstrings, so an edit to comments, docstrings or
formatting keeps the fingerprint and costs no rerun, while any change to what the code does
changes it. Imports made by name at run time (the method registry's discovery, gymnasium entry
points) are not followed: callers add those modules' files as entries themselves. The syntax
tree's text depends on the Python version, so moving to another Python reruns every job once.
"""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

from dbc_bench.checkout import PACKAGES, ROOT


def module_file(module: str) -> Path | None:
    """The project file of a dotted module name, or None for third-party modules."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=None)
def _parsed(path: Path) -> tuple[str, tuple[Path, ...]]:
    """(the code's syntax tree without docstrings, as text; the project files it imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    imported: set[Path] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level and not path.is_relative_to(ROOT):
                continue  # a relative import inside an external method's module: not project code
            if node.level:  # relative: resolved against this file's package
                package = path.relative_to(ROOT).parent.parts
                package = package[: len(package) - (node.level - 1)]
                module = ".".join([*package, module] if module else package)
            # `from methods import bc` imports the submodule methods/bc.py when there is one.
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            for depth in range(1, name.count(".") + 2):  # a module imports its parent packages too
                found = module_file(".".join(name.split(".")[:depth]))
                if found is not None:
                    imported.add(found)
    return ast.dump(tree, include_attributes=False), tuple(sorted(imported))


def closure(entries: tuple[str | Path, ...]) -> list[Path]:
    """The entry files (relative paths are taken from the project root) and every project file
    they import, directly or not."""
    todo = [(ROOT / e).resolve() for e in entries]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(_parsed(path)[1])
    return sorted(seen)


@lru_cache(maxsize=None)
def fingerprint(*entries: str | Path) -> str:
    """16 hex digits of sha256 over the closure's paths and syntax trees."""
    digest = hashlib.sha256()
    for path in closure(entries):
        # A file outside the project (an external method's module) is named by its file name alone, so
        # moving its folder reruns nothing.
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
        digest.update(str(name).encode() + b"\0" + _parsed(path)[0].encode() + b"\0")
    return digest.hexdigest()[:16]
