"""Shipped demonstrations (envs/demonstrations/, envs.shipped): cards, installation, regeneration."""
import json
import shutil

import minari
import pytest

from dbc_bench import provenance
from dbc_bench.errors import BenchError
from dbc_bench.io import read_json, sha256_file
from envs import shipped
from envs.demos import dataset_requirements, expert_file, produce

TASKS = ("maze", "fetch_pick", "hand_rotate", "walker", "cheetah", "ant_reach")


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """A scratch copy of the shipped folder, so a test may damage it."""
    copy = tmp_path / "demonstrations"
    shutil.copytree(shipped.SHIPPED_DIR, copy)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", copy)
    return copy


@pytest.mark.parametrize("task", TASKS)
def test_every_task_ships_a_dataset_with_its_card(task):
    card = shipped.read_card(task)
    assert card["recipe"]["task"] == task
    for relative, entry in card["files"].items():
        assert sha256_file(shipped.SHIPPED_DIR / task / entry["shipped_as"]) == entry["shipped_sha256"], relative
    summary = card["summary"]
    assert summary["transitions"] > 0 and summary["episodes_kept"] > 0
    assert {"command", "git_commit", "versions", "kernels", "cpu"} <= set(card["made_by"])
    expert = expert_file(task)
    assert card["recipe"]["expert_sha256"] == (sha256_file(expert) if expert else None)


@pytest.mark.parametrize("task", TASKS)
def test_shipped_metadata_names_what_recover_environment_needs(task):
    """Minari checks a dataset's requirements when it rebuilds the environment: they must name this suite
    (it registers the task ids) and the simulator packages, at the versions installed here."""
    meta = json.loads((shipped.SHIPPED_DIR / task / "metadata.json").read_text())
    assert meta["requirements"] == dataset_requirements()
    assert "code_permalink" not in meta or meta["code_permalink"].startswith("https://")


def vendor(cpu: str) -> str:
    """'AMD' of 'AMD EPYC x 2 logical CPUs', 'Intel(R)' of 'Intel(R) Xeon(R) ...'."""
    return cpu.split()[0] if cpu else ""


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.slow
def test_shipped_datasets_regenerate_byte_for_byte(task, tmp_path):
    """The code, expert and seeds make exactly the committed bytes on a CPU of the vendor that made them
    (pinned kernels). On the other vendor's CPUs MKL's kernels round differently even pinned, and the RL
    experts' rollouts diverge (measured on an Intel Xeon against the AMD EPYC cards: walker 4,604 transitions
    and return 5,625 against 5,000 and 6,164, a cheetah episode flipped; maze and fetch_pick identical):
    there the recipe must still give its episode count, and only the scripted experts' bytes are compared."""
    card = shipped.read_card(task)
    recipe = card["recipe"]
    summary = produce(task, tmp_path / "dataset", tmp_path / "summary.json", recipe["data"], recipe["expert_seed"],
                      recipe["eval_env_kwargs"], demos="regenerate")
    assert summary["source"] == "collected"
    assert summary["episodes_kept"] == card["summary"]["episodes_kept"]
    if vendor(card["made_by"]["cpu"]) == vendor(provenance.cpu_name()) or recipe["expert_sha256"] is None:
        assert summary["shipped_comparison"]["match"], shipped.describe(summary["shipped_comparison"])


def test_install_unpacks_the_card_bytes_and_minari_loads_them(tmp_path, monkeypatch):
    card = shipped.read_card("maze")
    out = tmp_path / "dbc" / "maze" / "expert-v0"
    summary = produce("maze", out, tmp_path / "maze.json", card["recipe"]["data"], 0, {}, demos="shipped")
    assert summary["source"].startswith("shipped")
    assert summary["files"] == {rel: entry["sha256"] for rel, entry in card["files"].items()}
    assert read_json(tmp_path / "maze.json")["transitions"] == card["summary"]["transitions"]
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    dataset = minari.load_dataset("dbc/maze/expert-v0")
    assert dataset.total_steps == card["summary"]["transitions"]


def test_another_recipe_collects_instead(tmp_path, capsys):
    summary = produce("maze", tmp_path / "d", tmp_path / "s.json", {"episodes": 2}, 0, {}, demos="shipped")
    assert summary["source"] == "collected" and summary["episodes_kept"] == 2
    assert "no shipped dataset was made by this recipe" in capsys.readouterr().out


def test_a_damaged_shipped_file_is_named_and_the_finished_dataset_kept(shipped_copy, tmp_path):
    out = tmp_path / "dataset"
    shipped.install("maze", out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    damaged = shipped_copy / "maze" / "main_data.hdf5.xz"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.raises(BenchError, match=r"main_data\.hdf5\.xz: sha256 differs from its card .*card\.json"):
        shipped.install("maze", out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset", "demonstrations"]  # no staging left


def test_a_card_without_its_fields_is_named(shipped_copy):
    (shipped_copy / "maze" / "card.json").write_text('{"format": "dbc-bench-dataset-card-v1"}')
    with pytest.raises(BenchError, match=r"maze/card\.json: not a dataset card: missing key\(s\) recipe"):
        shipped.read_card("maze")


def test_regenerate_reports_differing_bytes(shipped_copy, tmp_path):
    card_file = shipped_copy / "maze" / "card.json"
    card = read_json(card_file)
    card["files"]["data/main_data.hdf5"]["sha256"] = "0" * 64
    card_file.write_text(json.dumps(card))
    summary = produce("maze", tmp_path / "d", tmp_path / "s.json", card["recipe"]["data"], 0, {}, demos="regenerate")
    assert not summary["shipped_comparison"]["match"]
    assert shipped.describe(summary["shipped_comparison"]).endswith("differ from the shipped card "
                                                                    f"{card_file}: data/main_data.hdf5")


def test_ship_writes_a_card_that_the_next_run_installs(shipped_copy, tmp_path):
    produce("maze", tmp_path / "a", tmp_path / "a.json", {"episodes": 2}, 0, {}, demos="ship")
    card = shipped.read_card("maze")
    assert card["recipe"]["data"] == {"episodes": 2} and card["made_by"]["command"] == shipped.SHIP_COMMAND
    summary = produce("maze", tmp_path / "b", tmp_path / "b.json", {"episodes": 2}, 0, {}, demos="shipped")
    assert summary["source"].startswith("shipped")
    assert shipped.file_hashes(tmp_path / "b") == shipped.file_hashes(tmp_path / "a")


@pytest.mark.parametrize("origin, expected", [
    ("git@github.com:lab/dbc-bench.git", "https://github.com/lab/dbc-bench/blob/abc123/envs/demos.py"),
    ("https://user:token@gitlab.com/lab/dbc-bench", "https://gitlab.com/lab/dbc-bench/blob/abc123/envs/demos.py"),
    ("/srv/git/dbc-bench", None),
    (None, None),
])
def test_code_permalink_names_the_web_origin_and_commit(origin, expected, monkeypatch):
    answers = {("remote", "get-url", "origin"): origin, ("rev-parse", "HEAD"): "abc123"}
    monkeypatch.setattr(provenance, "_git", lambda *args: answers.get(args))
    assert provenance.code_permalink("envs/demos.py") == expected


def test_regeneration_ignores_a_different_permalink(shipped_copy, tmp_path):
    task = "maze"
    dataset = tmp_path / "dataset"
    shipped.install(task, dataset)
    meta = json.loads((dataset / "data" / "metadata.json").read_text())
    meta["code_permalink"] = "https://github.com/someone/fork/blob/0123/envs/demos.py"
    (dataset / "data" / "metadata.json").write_text(json.dumps(meta))
    comparison = shipped.compare(task, dataset)
    assert comparison["match"] and comparison["files"]["data/metadata.json"]["note"] == "differs in code_permalink only"
    meta["description"] = "other"
    (dataset / "data" / "metadata.json").write_text(json.dumps(meta))
    assert not shipped.compare(task, dataset)["match"]
