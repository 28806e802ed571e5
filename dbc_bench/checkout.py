"""A job runs the code of the checkout it was planned from, or not at all.

A job is a script of one checkout (`python workflow/scripts/<stage>.py`, run in that checkout), but
Python finds the suite's packages wherever its environment points: a virtual environment installed
(editable) from another checkout imports that checkout's `envs`, `methods` and `dbc_bench`, while the
job's fingerprint and provenance describe this one. Checked on the first import of `dbc_bench` (which
every package imports before its own code runs) and again before a stage's body.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dbc_bench", "envs", "methods", "analysis", "benchmarks", "pipeline")


def checkout_of(path: Path) -> Path | None:
    """The suite checkout whose own file `path` is (the nearest folder above it with a Snakefile and
    dbc_bench/); None outside one, and for installed packages (a .venv inside the checkout)."""
    path = path.resolve()
    for folder in path.parents:
        if (folder / "Snakefile").is_file() and (folder / "dbc_bench" / "__init__.py").is_file():
            parts = path.relative_to(folder).parts
            return None if parts[0].startswith(".") or "site-packages" in parts else folder
    return None


def foreign_modules(root: Path) -> list[tuple[str, Path]]:
    """The suite's loaded modules whose files lie outside `root`."""
    found = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in PACKAGES or not getattr(module, "__file__", None):
            continue
        path = Path(module.__file__).resolve()
        if not path.is_relative_to(root):
            found.append((name, path))
    return found


def require_workflow(basedir: str | Path) -> None:
    """The Snakefile's check: its job fingerprints cover this checkout's files, so Python must import the
    packages from it (a BenchError of one line otherwise)."""
    if ROOT != Path(basedir).resolve():
        from dbc_bench.errors import BenchError

        raise BenchError(f"this workflow is {Path(basedir).resolve()}, but Python imports its packages from {ROOT} "
                         "(the virtual environment is installed from there); run ./setup.sh here and use its .venv")


def check() -> None:
    """Stop with one line when the running script's checkout is not the one the suite's modules come from.
    A main program outside any checkout (snakemake, pytest, python -c) is not checked."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    root = checkout_of(Path(main)) if main else None
    if root is None:
        return
    foreign = foreign_modules(root)
    if foreign:
        name, path = foreign[0]
        print(f"error: {main} is the checkout {root}'s, but Python imported {name} from {path}, another "
              f"checkout's (its virtual environment is installed from there); run ./setup.sh in {root} and use "
              f"its .venv", file=sys.stderr)
        raise SystemExit(1)
