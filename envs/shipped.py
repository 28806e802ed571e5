"""Shipped demonstrations: the datasets the default budget trains on, committed with a card each.

``envs/demonstrations/<task>/`` holds the Minari dataset's two files as ``collect`` wrote them,
``main_data.hdf5.xz`` (HDF5 spends a few KB of headers per episode; xz shrinks the file 4-20x) and
``metadata.json``, and ``card.json``:

- ``recipe``: what the dataset is the answer to (the data budget, the expert seed, the evaluation env
  kwargs the dataset records, the RL expert file's sha256). The pipeline installs the shipped dataset
  only where its own recipe is equal, and collects anew otherwise;
- ``files``: sha256 and size of each dataset file, and of its shipped (compressed) form;
- ``summary``: the collection summary (expert score, episodes, transitions, reference scores);
- ``made_by``: the command, commit, package versions, CPU and kernel settings that made it.

``demos: regenerate`` collects anew and compares the bytes with the card; ``demos: ship`` collects and
writes the result here (maintainers: after a change to a task, its expert or the collection).
"""
from __future__ import annotations

import json
import lzma
import os
import shutil
from pathlib import Path

from dbc_bench.errors import BenchError
from dbc_bench.io import copy_atomic, read_json, require_keys, sha256_file, write_json_atomic

SHIPPED_DIR = Path(__file__).resolve().parent / "demonstrations"
CARD_FORMAT = "dbc-bench-dataset-card-v1"
# The Minari dataset's files, relative to its directory, and how each is shipped.
DATASET_FILES = {"data/main_data.hdf5": "main_data.hdf5.xz", "data/metadata.json": "metadata.json"}
DEMO_MODES = ("shipped", "regenerate", "ship")
SHIP_COMMAND = "snakemake --cores 2 datasets --config demos=ship"
# Summary fields that describe one installation, not the dataset: left out of the card.
LOCAL_SUMMARY_KEYS = ("dataset_dir", "collect_seconds", "source", "files")


def card_path(task: str) -> Path:
    return SHIPPED_DIR / task / "card.json"


def recipe(task: str, data: dict, expert_seed: int, eval_env_kwargs: dict, expert_file: Path | None) -> dict:
    """Everything that decides a dataset's bytes apart from the code (which the tests and the
    `verify` target check by regenerating)."""
    if expert_file is not None and not expert_file.is_file():
        raise BenchError(f"{expert_file}: the RL expert of '{task}' is missing; restore it (git checkout -- "
                         f"{expert_file}) or train one (--config experts=retrained)")
    return {"task": task, "data": dict(sorted(data.items())), "expert_seed": int(expert_seed),
            "eval_env_kwargs": dict(sorted(eval_env_kwargs.items())),
            "expert_sha256": sha256_file(expert_file) if expert_file is not None else None}


def read_card(task: str) -> dict | None:
    """The task's card, or None where nothing is shipped for it."""
    path = card_path(task)
    if not path.is_file():
        return None
    card = read_json(path)
    require_keys(card, ("format", "recipe", "files", "summary", "made_by"), path, "a dataset card")
    if card["format"] != CARD_FORMAT:
        raise BenchError(f"{path}: format '{card['format']}', expected '{CARD_FORMAT}'")
    return card


def applies(task: str, wanted: dict) -> bool:
    card = read_card(task)
    return card is not None and card["recipe"] == wanted


def shipped_files(task: str) -> list[Path]:
    """The committed files behind a task's shipped dataset (inputs of the data rule)."""
    return [card_path(task)] + [SHIPPED_DIR / task / shipped for shipped in DATASET_FILES.values()]


def install(task: str, out_dir: Path) -> dict:
    """Unpack the shipped dataset into `out_dir` (atomically), each file checked against the card.
    Returns the card's summary."""
    card = read_card(task)
    if card is None:
        raise BenchError(f"no shipped dataset for '{task}' ({card_path(task)} is missing)")
    staging = out_dir.parent / f".staging-{out_dir.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for relative, shipped in DATASET_FILES.items():
            source, expected = SHIPPED_DIR / task / shipped, card["files"][relative]
            if sha256_file(source) != expected["shipped_sha256"]:
                raise BenchError(f"{source}: sha256 differs from its card {card_path(task)}; restore it "
                                 f"(git checkout -- {source.parent}) or collect anew with demos=regenerate")
            target = copy_atomic(source, staging / relative, read=lzma.open if shipped.endswith(".xz") else open)
            if sha256_file(target) != expected["sha256"]:
                raise BenchError(f"{source}: unpacks to bytes whose sha256 differs from its card {card_path(task)}")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card["summary"]


def file_hashes(dataset_dir: Path) -> dict[str, str]:
    """sha256 of each of a Minari dataset's files, as the summaries and cards record them."""
    return {relative: sha256_file(dataset_dir / relative) for relative in DATASET_FILES}


def check_against_summary(dataset_dir: Path, summary: Path) -> None:
    """Refuse a dataset whose bytes are not those its data summary recorded when the data stage wrote it
    (edited or corrupted since): training on it would silently give other results."""
    blob = read_json(summary)
    require_keys(blob, ("files",), summary, "a data summary")
    for name in DATASET_FILES:
        path = Path(dataset_dir) / name
        if not path.is_file():
            raise BenchError(f"{path}: missing (the dataset is incomplete); delete {dataset_dir} and rerun, and "
                             f"the data stage rebuilds it")
        if blob["files"].get(name) != sha256_file(path):
            raise BenchError(f"{path}: its sha256 is not the one {summary} records (the "
                             f"dataset changed after the data stage wrote it); delete {dataset_dir} and rerun, "
                             f"and the data stage rebuilds it")


def compare(task: str, dataset_dir: Path) -> dict:
    """Per file: the card's sha256 against the dataset's; `match` when every file is equal."""
    card = read_card(task)
    if card is None:
        raise BenchError(f"no shipped dataset for '{task}' to compare with ({card_path(task)} is missing)")
    files = {relative: {"card": card["files"][relative]["sha256"], "dataset": digest}
             for relative, digest in file_hashes(dataset_dir).items()}
    metadata = files.get("data/metadata.json")
    if metadata and metadata["card"] != metadata["dataset"] and _same_but_permalink(task, dataset_dir):
        # The permalink names the commit (and the origin) that wrote the dataset, not its contents.
        metadata["dataset"], metadata["note"] = metadata["card"], "differs in code_permalink only"
    return {"card": str(card_path(task)), "match": all(f["card"] == f["dataset"] for f in files.values()),
            "files": files}


def _same_but_permalink(task: str, dataset_dir: Path) -> bool:
    def fields(text: str) -> dict:
        meta = json.loads(text)
        meta.pop("code_permalink", None)
        return meta

    return fields((SHIPPED_DIR / task / "metadata.json").read_text()) == fields(
        (dataset_dir / "data" / "metadata.json").read_text())


def describe(comparison: dict) -> str:
    if comparison["match"]:
        return f"bytes match the shipped card {comparison['card']}"
    differing = [name for name, f in comparison["files"].items() if f["card"] != f["dataset"]]
    return f"bytes differ from the shipped card {comparison['card']}: {', '.join(differing)}"


def _xz(path, mode: str):
    # No timestamp or file name in an xz stream: the same bytes give the same file.
    return lzma.open(path, mode, preset=9 | lzma.PRESET_EXTREME)


def ship(task: str, dataset_dir: Path, summary: dict, wanted: dict, made_by: dict) -> Path:
    """Write the dataset in `dataset_dir` into the shipped folder with its card."""
    folder = SHIPPED_DIR / task
    files = {}
    for relative, shipped in DATASET_FILES.items():
        source, target = dataset_dir / relative, folder / shipped
        copy_atomic(source, target, write=_xz if shipped.endswith(".xz") else open)
        files[relative] = {"sha256": sha256_file(source), "bytes": source.stat().st_size,
                           "shipped_as": shipped, "shipped_sha256": sha256_file(target)}
    card = {"format": CARD_FORMAT, "recipe": wanted, "files": files, "made_by": made_by,
            "summary": {k: v for k, v in summary.items() if k not in LOCAL_SUMMARY_KEYS}}
    return write_json_atomic(card_path(task), card)
