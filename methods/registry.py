"""The method registry: every method module declares itself once, and everything else (the config
schema check, the rules, the report's labels, the benchmark) reads the declarations from here.

A method module declares
    METHOD = MethodSpec(name="dbc", label="DBC", config=Config, build=build,
                        needs=("diffusion_model",), config_base="bc",
                        variants=(Variant("dbc_nonorm", "DBC w/o normalisation", {"normalize_dm_loss": False}),))
and is found by its presence in the `methods` package (any module there with a METHOD), so a new
method is that module plus its config files, and nothing else.

A method outside the repository registers the same way from its own module, found by either
- the config key `method_modules: [mypkg.mymethod]` (the Snakefile passes it to every job as
  --method-modules, a comma-separated list: pipeline.job): an importable module name, or the path of a .py file
  (`path/to/mymethod.py`, imported by its file name, no PYTHONPATH needed), or
- the entry-point group `dbc_bench.methods` of an installed package (`mymethod = "mypkg.mymethod"`).
Its per-task config files are optional: `config_dir` (relative to its module's folder) may hold
<task>.yaml files; without one its Config's defaults apply, then the budget's and the run's overrides.

Run names: a registered method or variant, optionally with run overrides, `dbc@lambda_dm=0.5`.

Pre-training stages (a model trained once per task on the expert pairs, before the methods that use
it) register the same way, as `STAGES = (StageSpec(...),)` in any module of the package or a method
module outside it; a method names one in `needs` and its jobs receive the trained model as that input.
The Snakefile makes one rule per stage, so a method that needs a new pre-trained model is its module,
the stage's declaration and its config, and nothing else.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable

import yaml

from dbc_bench.errors import BenchError

# Methods outside the repository: importable module names (config key `method_modules`, given to each
# job as its --method-modules argument: pipeline.job), and an installed package's entry points.
ENTRY_POINT_GROUP = "dbc_bench.methods"


@dataclass(frozen=True)
class Variant:
    """A base method with some of its config fields fixed (its own label, no config files)."""

    name: str
    label: str
    overrides: dict
    rank: int = 100                     # position in tables and figures (then by name)


@dataclass(frozen=True)
class StageSpec:
    """A pre-training stage: one model per task, trained on the task's expert pairs, that methods name in
    `needs` (DBC's diffusion model, methods/diffusion.py; the ablation's guidance models)."""

    name: str                           # what a method's `needs` names: 'diffusion_model'
    abbrev: str                         # in tables: 'DM'
    label: str                          # in messages: 'diffusion model'
    config: type                        # its Config dataclass (dbc_bench.fields options)
    pretrain: Callable                  # pretrain(task, hyperparameters, dataset, out_dir, **options)
    rule: str                           # its Snakemake rule, and its logs/ and benchmarks/ folder
    folder: str                         # its files under a results root: 'diffusion_model/{task}'
    config_files: str                   # config/<config_files>/<task>.yaml, and the budget's section
    base: str | None = None             # the stage whose resolved fields it starts from (the same size, schedule)
    fixed: tuple = ()                   # (field, value) pairs set last: a guidance model's kind
    stand_in: Callable | None = None    # stand_in(obs_dim, act_dim, cfg, path): an untrained model file (benchmarks)
    module: str = field(default="", compare=False)

    @property
    def source_file(self) -> Path:
        return Path(sys.modules[self.module].__file__).resolve()

    def out_dir(self, results: str, task: str) -> str:
        return f"{results}/{self.folder.format(task=task)}"

    def model_path(self, results: str, task: str) -> str:
        return f"{self.out_dir(results, task)}/model.pt"


@dataclass(frozen=True)
class MethodSpec:
    name: str
    label: str
    config: type                        # its Config dataclass (dbc_bench.fields options)
    build: Callable | None = None       # offline: build(cfg, obs_dim, act_dim, context) -> Agent
    trainer: Callable | None = None     # online: make_trainer(...) -> a trainer (see methods.train)
    needs: tuple[str, ...] = ()         # the pre-training stages (StageSpec names) whose models it trains against
    config_base: str | None = None      # its per-task config files extend this method's
    variants: tuple[Variant, ...] = ()
    rank: int = 100                     # position in tables, figures and colours (then by name)
    config_dir: str | None = None       # outside the repository: folder of its <task>.yaml files
    module: str = field(default="", compare=False)

    @property
    def online(self) -> bool:
        return self.trainer is not None

    @property
    def external(self) -> bool:
        """Registered from outside the `methods` package."""
        return not self.module.startswith("methods.")

    @property
    def source_file(self) -> Path:
        """The file of its module (its code fingerprint's entry)."""
        return Path(sys.modules[self.module].__file__).resolve()

    def config_file(self, config_dir: Path, task: str) -> Path | None:
        """Its per-task hyperparameter file: config/methods/<name>/<task>.yaml for a built-in method
        (required); for an external one, <config_dir>/<task>.yaml beside its module, if it exists."""
        if not self.external:
            return config_dir / "methods" / self.name / f"{task}.yaml"
        if self.config_dir is None:
            return None
        path = self.source_file.parent / self.config_dir / f"{task}.yaml"
        return path if path.is_file() else None


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
_STAGES: dict[str, StageSpec] | None = None
_MODULES: list[str] = []  # use_modules' names, resolved (a .py file by its full path)


def declared(module) -> list[MethodSpec]:
    """A module's methods: its METHOD, or its METHODS (several methods sharing one module's code)."""
    spec = getattr(module, "METHOD", None)
    if isinstance(spec, MethodSpec):
        return [spec]
    return [s for s in getattr(module, "METHODS", ()) if isinstance(s, MethodSpec)]


def declared_stages(module) -> list[StageSpec]:
    return [s for s in getattr(module, "STAGES", ()) if isinstance(s, StageSpec)]


def use_modules(names: list[str]) -> None:
    """Register the methods of these importable modules too (the config key `method_modules`; each job
    is given `used_modules()` as its --method-modules)."""
    global _REGISTRY, _STAGES, _MODULES
    resolved = []
    for name in names:
        if name.endswith(".py"):
            path = Path(name).resolve()
            if not path.is_file() or not path.stem.isidentifier():
                raise BenchError(f"method module file '{name}': "
                                 + ("no such file" if not path.is_file() else "its name is not a module name"))
            # It is imported under its file name: one that is already a module (the suite's envs, numpy, ...)
            # would replace that module for every later import.
            taken = sys.modules.get(path.stem)
            if taken is not None and Path(getattr(taken, "__file__", "") or "").resolve() != path:
                raise BenchError(f"method module file '{name}': its name '{path.stem}' is already the module "
                                 f"{getattr(taken, '__file__', None) or path.stem}; rename the file")
            name = str(path)  # jobs may start in another folder (a cluster node): pass them the full path
        elif not name or "," in name or not all(part.isidentifier() for part in name.split(".")):
            raise BenchError(f"'{name}' is neither a module name (mypkg.mymethod) nor a .py file")
        module = _import(name, "")
        if not declared(module) and not declared_stages(module):
            raise BenchError(f"module '{name}' declares no METHOD = MethodSpec(...)")
        resolved.append(name)
    _MODULES = resolved
    _REGISTRY = _STAGES = None
    methods()  # a name declared twice is reported here


def used_modules() -> list[str]:
    """The modules `use_modules` registered, by the names a job in any folder imports them by."""
    return list(_MODULES)


def _external_modules() -> list[tuple[str, str]]:
    """(where it was named, module name) of every method module outside the `methods` package."""
    named = [("method_modules", name) for name in _MODULES]
    for point in entry_points(group=ENTRY_POINT_GROUP):
        named.append((f"entry point '{point.name}' ({point.dist.name if point.dist else '?'})", point.module))
    return named


def _import(module_name: str, where: str):
    """Import a module by name, or a .py file by its path (as the module of its file name, once)."""
    try:
        if not module_name.endswith(".py"):
            return importlib.import_module(module_name)
        path = Path(module_name)
        loaded = sys.modules.get(path.stem)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path.resolve():
            return loaded
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module  # pickling and dataclasses look their module up by name
        spec.loader.exec_module(module)
        return module
    except SystemExit as exc:  # sys.exit() at import would end the whole workflow, even with status 0
        raise BenchError(f"{where + ': ' if where else ''}method module '{module_name}' called sys.exit("
                         f"{exc.code!r}) while being imported; a method module must only define its method") from None
    except Exception as exc:  # an external module's own import error, or not on the path
        hint = "" if module_name.endswith(".py") else "; is its folder on PYTHONPATH, or name its .py file"
        raise BenchError(f"{where + ': ' if where else ''}cannot import method module '{module_name}' "
                         f"({type(exc).__name__}: {exc}){hint}") from exc


def methods() -> dict[str, MethodSpec]:
    """Every registered method by name: the `methods` package's modules, then the external ones
    (imported once)."""
    global _REGISTRY, _STAGES
    if _REGISTRY is None:
        import methods as package

        found: dict[str, MethodSpec] = {}
        stages_found: dict[str, StageSpec] = {}
        modules = [(f"methods/{info.name}.py", f"methods.{info.name}")
                   for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name)]
        for where, module_name in modules + _external_modules():
            module = _import(module_name, where)
            for stage in declared_stages(module):
                if stage.name in stages_found and stages_found[stage.name].module != module.__name__:
                    raise BenchError(f"pre-training stage '{stage.name}' is declared twice "
                                     f"({stages_found[stage.name].module}, {module.__name__})")
                object.__setattr__(stage, "module", module.__name__)
                stages_found[stage.name] = stage
            specs = declared(module)
            if not specs:
                if module_name.startswith("methods.") or declared_stages(module):
                    continue  # the package's shared modules (core, train, ...), or stages only
                raise BenchError(f"{where}: module '{module_name}' declares no METHOD = MethodSpec(...)")
            for spec in specs:
                if spec.name in found:
                    if found[spec.name].module == module.__name__:
                        continue  # named twice (config key and entry point)
                    raise BenchError(f"method '{spec.name}' is declared twice ({found[spec.name].module}, "
                                     f"{module.__name__})")
                object.__setattr__(spec, "module", module.__name__)
                found[spec.name] = spec
        for spec in found.values():
            for need in spec.needs:
                if need not in stages_found:
                    raise BenchError(f"{spec.module}: method '{spec.name}' needs '{need}', which no module declares "
                                     f"as a pre-training stage (STAGES); choose from {', '.join(stages_found)}")
        for stage in stages_found.values():
            if stage.base is not None and stage.base not in stages_found:
                raise BenchError(f"{stage.module}: stage '{stage.name}' has base '{stage.base}', "
                                 "not a registered stage")
        _REGISTRY, _STAGES = found, stages_found
    return _REGISTRY


def stages() -> dict[str, StageSpec]:
    """Every registered pre-training stage by name."""
    methods()
    return _STAGES


def stage(name: str) -> StageSpec:
    if name not in stages():
        raise BenchError(f"unknown pre-training stage '{name}'; choose from {', '.join(stages())}")
    return stages()[name]


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


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return str(value)


def canonical(run_name: str) -> str:
    """One name per run: 'dbc@lambda_dm=0.50' and 'dbc@lambda_dm=.5' are 'dbc@lambda_dm=0.5', overrides in
    field order, so that the same run is never trained twice under two names."""
    run = parse(run_name)
    name = run_name.split("@")[0]
    return name + "".join(f"@{key}={_text(run.overrides[key])}" for key in sorted(run.overrides))


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
