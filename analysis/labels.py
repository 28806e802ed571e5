"""Which methods and tasks the suite knows, in which order, under which labels.

The names are not listed here: every report script receives them as `--registry` (built by the
Snakefile from the suite's registries), so a new method or task needs no edit of the analysis.
Order everywhere: the registry's names in its (canonical) order, then any other name
alphabetically; a name outside the registry (e.g. a run with overrides, `dbc@lambda_dm=0.5`) is
labelled by its own name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable

from dbc_bench.errors import BenchError


@dataclass(frozen=True)
class Registry:
    """Name -> label of the methods and of the tasks, keys in canonical order. The default
    (empty) registry orders names alphabetically and shows them as they are."""

    methods: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str, source: str = "--registry") -> Registry:
        """`{"methods": {name: label, ...}, "tasks": {name: label, ...}}`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BenchError(f"{source}: invalid JSON ({exc})") from None
        if not isinstance(data, dict) or not set(data) <= {"methods", "tasks"}:
            raise BenchError(f"{source}: expected a JSON object with 'methods' and 'tasks', got {text!r}")
        parts = {key: data.get(key, {}) for key in ("methods", "tasks")}
        for key, names in parts.items():
            if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
                raise BenchError(f"{source}: '{key}' must map each name to its label")
        return cls(**parts)

    def order_methods(self, names: Iterable[str]) -> list[str]:
        return _in_order(names, self.methods)

    def order_tasks(self, names: Iterable[str]) -> list[str]:
        return _in_order(names, self.tasks)

    def method_label(self, name: str) -> str:
        return self.methods.get(name, name)

    def task_label(self, name: str) -> str:
        return self.tasks.get(name, name)


def _in_order(names: Iterable[str], canonical: Iterable[str]) -> list[str]:
    names = set(map(str, names))
    known = [n for n in canonical if n in names]
    return known + sorted(names - set(known))


def add_registry_argument(parser) -> None:
    """The `--registry` option every report script takes (parsed by Registry.from_json)."""
    parser.add_argument("--registry", required=True,
                        help='JSON {"methods": {name: label}, "tasks": {name: label}}, names in canonical order')
