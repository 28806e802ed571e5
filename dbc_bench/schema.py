"""A config file's or override's first schema error as one line: the key and what is allowed.

Snakemake's own `validate` prints the whole schema (about 500 lines for a top-level typo); the
Snakefile asks here first and stops with one line naming the key and the allowed values or bounds.
"""
from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml


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
