"""A config file's or override's first schema error as one line: the key and what is allowed.

Snakemake's own `validate` prints the whole schema (about 500 lines for a top-level typo); the
Snakefile asks here first and stops with one line naming the key and the allowed values or bounds.
"""
from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from dbc_bench.errors import BenchError


def _where(error: jsonschema.ValidationError) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path]
    return "".join(parts).lstrip(".")


def _allowed(error: jsonschema.ValidationError) -> str:
    schema = error.schema
    if error.validator == "additionalProperties" and isinstance(schema.get("properties"), dict):
        extra = sorted(set(error.instance) - set(schema["properties"]))
        known = ", ".join(schema["properties"])
        return f"unknown key '{extra[0]}'; choose from {known}" if extra else error.message
    if error.validator == "enum":
        return f"{error.instance!r} is not allowed; choose from {', '.join(map(str, schema['enum']))}"
    if error.validator == "pattern" and schema.get("description"):
        return f"{error.instance!r} is not allowed ({schema['description']})"
    return error.message


def problem(data: dict, schema_path: str | Path) -> str | None:
    """None if `data` satisfies the schema; else "'<key>': <what is wrong and what is allowed>"."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is None:
        return None
    where = _where(error)
    return f"'{where}': {_allowed(error)}" if where else _allowed(error)


def _filling_defaults(validator_class):
    """A validator class that, before checking an object's properties, sets each missing property that has
    a `default` (as Snakemake's `validate(..., set_default=True)` does), so defaults nest."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, declared, instance, schema):
        if isinstance(instance, dict):
            for key, subschema in declared.items():
                if "default" in subschema and key not in instance:
                    instance[key] = copy.deepcopy(subschema["default"])
        yield from check_properties(validator, declared, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


def with_defaults(data: dict, schema_path: str | Path, where: str) -> dict:
    """`data` checked against the schema and completed with its defaults, in place; a problem is a
    BenchError of one line: "<where>: '<key>': <what is allowed>"."""
    found = problem(data, schema_path)
    if found:
        raise BenchError(f"{where}{' ' if found.startswith(chr(39)) else ': '}{found}")
    schema = yaml.safe_load(Path(schema_path).read_text())
    _filling_defaults(jsonschema.Draft202012Validator)(schema).validate(data)
    return data
