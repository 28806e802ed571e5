"""Shipped pre-trained models: a stage's model (DBC's diffusion model) trained once and committed with a card,
so the DAG installs it instead of pre-training it again where the run asks for the same model.

``methods/pretrained/<stage>/<task>/`` holds what the pre-training job wrote (``model.pt``, weights only, and
its ``loss_curve.csv``, ``train_log.csv``, ``config.json``, ``timing.json``) and ``card.json``:

- ``recipe``: what decides the model's bytes apart from the code: the stage, the task, the resolved
  hyperparameters, the seed and the sha256 of the dataset's ``main_data.hdf5``. A job installs the model only
  where its own recipe is equal, and pre-trains otherwise;
- ``files``: sha256 and size of each shipped file (installation refuses a file whose bytes differ);
- ``made_by``: the commit, package versions, CPU and kernels of the job that trained it, its held-out loss at
  the start and end, and the command that shipped it.

Config ``diffusion_models``: ``shipped`` installs where a card applies, ``trained`` always pre-trains; the
target ``ship_models`` (with ``diffusion_models=trained``) writes the budget's trained models here (maintainers).
"""
from __future__ import annotations

from pathlib import Path

from dbc_bench.errors import BenchError
from dbc_bench.io import copy_atomic, read_json, require_keys, sha256_file, write_json_atomic

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
CARD_FORMAT = "dbc-bench-model-card-v1"
SHIP_COMMAND = "snakemake --cores 2 ship_models --config diffusion_models=trained"
# What a pre-training job writes, in the order installed: model.pt last, as pre-training writes it last (its
# presence marks a finished stage).
MODEL_FILES = ("loss_curve.csv", "train_log.csv", "config.json", "timing.json", "model.pt")
DATASET_FILE = "data/main_data.hdf5"  # the episodes; the metadata file does not change a model's bits


def folder(stage: str, task: str) -> Path:
    return PRETRAINED_DIR / stage / task


def card_path(stage: str, task: str) -> Path:
    return folder(stage, task) / "card.json"


def recipe(stage: str, task: str, hyperparameters: dict, dataset_sha256: str, seed: int = 0) -> dict:
    """Everything that decides a pre-trained model's bytes apart from the code (on the pinned CPU kernels)."""
    return {"stage": stage, "task": task, "hyperparameters": dict(sorted(hyperparameters.items())),
            "seed": int(seed), "dataset_sha256": dataset_sha256}


def dataset_sha256(dataset_dir: Path) -> str:
    path = Path(dataset_dir) / DATASET_FILE
    if not path.is_file():
        raise BenchError(f"{path}: missing (the dataset is incomplete)")
    return sha256_file(path)


def read_card(stage: str, task: str) -> dict | None:
    """The card of a stage's shipped model for a task, or None where none is shipped."""
    path = card_path(stage, task)
    if not path.is_file():
        return None
    card = read_json(path)
    require_keys(card, ("format", "recipe", "files", "made_by"), path, "a model card")
    if card["format"] != CARD_FORMAT:
        raise BenchError(f"{path}: format '{card['format']}', expected '{CARD_FORMAT}'")
    missing = sorted(set(MODEL_FILES) - set(card["files"]))
    if missing:
        raise BenchError(f"{path}: 'files' lacks {missing}")
    return card


def applies(stage: str, task: str, wanted: dict) -> bool:
    card = read_card(stage, task)
    return card is not None and card["recipe"] == wanted


def shipped_files(stage: str, task: str) -> list[Path]:
    """The committed files of a shipped model (inputs of the pre-training rule where it installs them)."""
    return [card_path(stage, task)] + [folder(stage, task) / name for name in MODEL_FILES]


def install(stage: str, task: str, wanted: dict, out_dir: Path) -> dict:
    """Copy the shipped model into `out_dir`, each file checked against its card, model.pt last. Refuses a
    card whose recipe is not `wanted` (the dataset or hyperparameters changed since it was shipped). Returns
    the card."""
    card = read_card(stage, task)
    path = card_path(stage, task)
    if card is None:
        raise BenchError(f"no shipped {stage} for '{task}' ({path} is missing)")
    if card["recipe"] != wanted:
        differing = sorted(k for k in set(wanted) | set(card["recipe"]) if wanted.get(k) != card["recipe"].get(k))
        raise BenchError(f"{path}: its recipe differs from this run's in {differing}; pre-train it with "
                         f"--config diffusion_models=trained")
    for name in MODEL_FILES:
        source = folder(stage, task) / name
        if not source.is_file() or sha256_file(source) != card["files"][name]["sha256"]:
            raise BenchError(f"{source}: {'sha256 differs from' if source.is_file() else 'missing, named in'} its "
                             f"card {path}; restore it (git checkout -- {source.parent}) or pre-train with "
                             f"--config diffusion_models=trained")
    out_dir = Path(out_dir)
    for name in MODEL_FILES:
        copy_atomic(folder(stage, task) / name, out_dir / name)
    return card


def ship(stage: str, task: str, trained_dir: Path, wanted: dict) -> Path:
    """Write a finished pre-training (`trained_dir`, as the pre-training job left it) into the shipped folder
    with its card."""
    trained_dir = Path(trained_dir)
    for name in MODEL_FILES:
        if not (trained_dir / name).is_file():
            raise BenchError(f"{trained_dir / name}: missing; ship a finished pre-training")
    info, timing = read_json(trained_dir / "config.json"), read_json(trained_dir / "timing.json")
    require_keys(info, ("config", "seed", "provenance", "kernels", "code"), trained_dir / "config.json",
                 "a pre-training's config")
    trained = recipe(stage, task, info["config"], wanted["dataset_sha256"], info["seed"])
    if trained != wanted:
        raise BenchError(f"{trained_dir}: trained by another recipe than this run's; pre-train it again")
    files = {}
    for name in MODEL_FILES:
        target = copy_atomic(trained_dir / name, folder(stage, task) / name)
        files[name] = {"sha256": sha256_file(target), "bytes": target.stat().st_size}
    prov = info["provenance"]
    made_by = {"command": SHIP_COMMAND, "git_commit": prov.get("git_commit"), "git_dirty": prov.get("git_dirty"),
               "versions": prov.get("versions"), "cpu": prov.get("cpu"), "kernels": info["kernels"],
               "device": info.get("device"), "code": info["code"], "updates": timing.get("updates"),
               "train_seconds": timing.get("train_seconds"),
               "heldout_loss_initial": timing.get("heldout_loss_initial"),
               "heldout_loss_final": timing.get("heldout_loss_final")}
    card = {"format": CARD_FORMAT, "recipe": wanted, "files": files, "made_by": made_by}
    return write_json_atomic(card_path(stage, task), card)
