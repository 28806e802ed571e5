"""The method registry: every method module declares itself once, and everything else (the config
schema check, the rules, the report's labels, the benchmark) reads the declarations from here.

A method module declares
    METHOD = MethodSpec(name="dbc", label="DBC", config=Config, build=build,
                        needs=("diffusion_model",), config_base="bc",
                        variants=(Variant("dbc_nonorm", "DBC w/o normalisation", {"normalize_dm_loss": False}),))
and is found by its presence in the `methods` package (any module there with a METHOD), so a new
method is that module plus its config files, and nothing else.

Run names: a registered method or variant, optionally with run overrides, `dbc@lambda_dm=0.5`.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

import yaml

from dbc_bench.errors import BenchError

# What a method may declare in `needs`: the input it receives from an earlier stage.
NEEDS = ("diffusion_model",)


@dataclass(frozen=True)
class Variant:
    """A base method with some of its config fields fixed (its own label, no config files)."""

    name: str
    label: str
    overrides: dict
    rank: int = 100                     # position in tables and figures (then by name)


@dataclass(frozen=True)
class MethodSpec:
    name: str
    label: str
    config: type                        # its Config dataclass (dbc_bench.fields options)
    build: Callable | None = None       # offline: build(cfg, obs_dim, act_dim, context) -> Agent
    trainer: Callable | None = None     # online: make_trainer(...) -> a trainer (see methods.train)
    needs: tuple[str, ...] = ()         # earlier stages' outputs it trains against (NEEDS)
    config_base: str | None = None      # its per-task config files extend this method's
    variants: tuple[Variant, ...] = ()
    rank: int = 100                     # position in tables, figures and colours (then by name)
    module: str = field(default="", compare=False)

    @property
    def online(self) -> bool:
        return self.trainer is not None


@dataclass(frozen=True)
class RunSpec:
    """What a run name resolves to: the method whose module runs it, the variant's fixed fields,
    and the run's own overrides."""

    name: str            # as written: 'dbc_nonorm@lambda_dm=1'
    method: MethodSpec
    variant: Variant | None
    overrides: dict

    @property
    def label(self) -> str:
        """The registered label; a run with overrides is labelled by its name."""
        if self.overrides:
            return self.name
        return self.variant.label if self.variant else self.method.label


def _value(text: str):
    """A YAML scalar; YAML 1.1 reads '1e-4' (no dot) as a string, so numbers are tried first."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return yaml.safe_load(text)


_REGISTRY: dict[str, MethodSpec] | None = None


def methods() -> dict[str, MethodSpec]:
    """Every method module in the `methods` package, by name (imported once)."""
    global _REGISTRY
    if _REGISTRY is None:
        import methods as package

        found: dict[str, MethodSpec] = {}
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            module = importlib.import_module(f"methods.{info.name}")
            spec = getattr(module, "METHOD", None)
            if isinstance(spec, MethodSpec):
                if spec.name in found:
                    where = f"{found[spec.name].module}, {module.__name__}"
                    raise BenchError(f"method '{spec.name}' is declared twice ({where})")
                object.__setattr__(spec, "module", module.__name__)
                found[spec.name] = spec
        _REGISTRY = found
    return _REGISTRY


def variants() -> dict[str, tuple[Variant, MethodSpec]]:
    """Variant name -> (variant, its method); a name may be declared once, by a method or a variant."""
    found: dict[str, tuple[Variant, MethodSpec]] = {}
    for method in methods().values():
        for variant in method.variants:
            if variant.name in found or variant.name in methods():
                raise BenchError(f"{method.module}: variant '{variant.name}' reuses a registered name")
            found[variant.name] = (variant, method)
    return found


def names() -> list[str]:
    """Every registered method and variant, in their declared order (rank, then name)."""
    entries = [(m.rank, m.name) for m in methods().values()]
    entries += [(v.rank, v.name) for v, _ in variants().values()]
    return [name for _, name in sorted(entries)]


def labels() -> dict[str, str]:
    """Registered name -> label, in declared order."""
    return {name: parse(name).label for name in names()}


def parse(run_name: str) -> RunSpec:
    """'dbc@lambda_dm=0.5' -> RunSpec; an unknown method or a malformed override is one line that
    lists the choices. Override fields are checked against the config when it is resolved."""
    name, *pairs = run_name.split("@")
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BenchError(f"method '{run_name}': expected name@field=value, got '{pair}'")
        overrides[key] = _value(value)
    if name in methods():
        return RunSpec(run_name, methods()[name], None, overrides)
    if name in variants():
        variant, method = variants()[name]
        return RunSpec(run_name, method, variant, overrides)
    raise BenchError(f"unknown method '{name}'; choose from {', '.join(names())}")
