"""Declarative config fields: each field states its default, a one-line doc and its constraints
(type from the annotation; range, choices); one validator checks any such dataclass.

    @dataclass
    class Config:
        lr: float = option(1e-4, "learning rate", gt=0)
        hidden: list[int] = option([256, 256], "hidden layer widths", item_gt=0)

`from_values(Config, values, source)` builds a config from a mapping, naming the source and the
valid choices for an unknown field or a bad value. Values keep the type they were given (an int
stays an int in a float field), so a resolved config prints as it was written.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from typing import Any

from dbc_bench.errors import BenchError

_KEY = "dbc_bench"


def option(default: Any, doc: str, *, ge: float | None = None, gt: float | None = None,
           le: float | None = None, choices: tuple | None = None, item_gt: float | None = None):
    """A dataclass field with its doc and constraints (ge/gt/le: bounds; choices: allowed values;
    item_gt: bound on every entry of a non-empty list)."""
    meta = {_KEY: {"doc": doc, "ge": ge, "gt": gt, "le": le, "choices": choices, "item_gt": item_gt}}
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def docs(cls) -> dict[str, str]:
    """Field name -> its one-line doc."""
    return {f.name: f.metadata[_KEY]["doc"] for f in dataclasses.fields(cls) if _KEY in f.metadata}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _type_problem(value, hint) -> str | None:
    """What `value` should be, or None when it has the annotated type (`X | None` admits None)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None and len(options) < len(typing.get_args(hint)):
            return None
        problem = _type_problem(value, options[0])
        return problem and f"{problem} or null"
    if dataclasses.is_dataclass(hint):
        return None if isinstance(value, hint) else "a mapping of its fields"
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        return None if _is_number(value) else "a finite number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list) or not value:
            return "a non-empty list"
        bad = [v for v in value if _type_problem(v, item) is not None]
        return None if not bad else f"a list of {getattr(item, '__name__', item)} values"
    raise TypeError(f"dbc_bench.fields cannot check a field annotated {hint!r}")


def _bound_problem(value, spec: dict) -> str | None:
    if value is None:  # admitted by an optional field's type
        return None
    items = value if isinstance(value, list) else [value]
    if spec["item_gt"] is not None and any(v <= spec["item_gt"] for v in items):
        return f"a list of values > {spec['item_gt']:g}"
    if not isinstance(value, list) and _is_number(value):
        for key, op, text in (("ge", float.__ge__, ">="), ("gt", float.__gt__, ">"), ("le", float.__le__, "<=")):
            bound = spec[key]
            if bound is not None and not op(float(value), float(bound)):
                return f"a number {text} {bound:g}"
    if spec["choices"] is not None and value not in spec["choices"]:
        return "one of " + ", ".join(map(str, spec["choices"]))
    return None


def validate(cfg, source: str, prefix: str = "") -> None:
    """Check every declared field of `cfg` (nested configs too), then its `cross_checks()` (pairs
    of field and what it must be) if it has any; the first problem raises a BenchError naming
    `source` and the field."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        if _KEY not in f.metadata:
            continue
        value = getattr(cfg, f.name)
        problem = _type_problem(value, hints[f.name]) or _bound_problem(value, f.metadata[_KEY])
        if problem:
            raise BenchError(f"{source}: field '{prefix}{f.name}' must be {problem}, got {value!r}")
        if dataclasses.is_dataclass(value):
            validate(value, source, f"{prefix}{f.name}.")
    for name, problem in getattr(cfg, "cross_checks", lambda: [])():
        raise BenchError(f"{source}: field '{prefix}{name}' must be {problem}, got {getattr(cfg, name)!r}")


def from_values(cls, values: dict, source: str, prefix: str = ""):
    """`cls(**values)`, validated; a mapping given for a nested config field builds that config.
    An unknown field is named with the known ones."""
    if not isinstance(values, dict):
        raise BenchError(f"{source}: {prefix.rstrip('.') or 'config'} must be a mapping of fields")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        names = ", ".join(prefix + u for u in unknown)
        raise BenchError(f"{source}: unknown field(s) {names}; choose from {', '.join(sorted(known))}")
    hints = typing.get_type_hints(cls)
    values = dict(values)
    for name, value in values.items():
        nested = [h for h in (hints[name], *typing.get_args(hints[name])) if dataclasses.is_dataclass(h)]
        if nested and isinstance(value, dict):
            values[name] = from_values(nested[0], value, source, f"{prefix}{name}.")
    cfg = cls(**values)
    if not prefix:
        validate(cfg, source)
    return cfg
