"""The one family of writers every stage uses: write to a temporary file beside the target, then
rename over it, so a killed job never leaves half a file; and weights-only loading of torch files."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import yaml

from dbc_bench.errors import BenchError


def _atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary file in `path`'s folder, then rename it over `path`. The
    temporary file never outlives a failure; an OSError is reported with the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise BenchError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        umask = os.umask(0)  # mkstemp makes 0600; give the file the usual permissions
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BenchError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_writable(folder: str | os.PathLike) -> None:
    """`folder` can be created and written: a file made in it (or in its nearest existing parent) and
    removed again. A folder that is a file, read-only, or on a full or read-only disk is one line."""
    folder = Path(folder)
    probe_in = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not probe_in.is_dir():
        raise BenchError(f"{folder}: cannot write here ({probe_in} is a file, not a folder)")
    try:
        fd, name = tempfile.mkstemp(prefix=".write-probe-", dir=probe_in)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise BenchError(f"{folder}: cannot write here ({exc.strerror or exc})") from exc


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return _atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: str | os.PathLike, obj) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """CSV text of dict rows; `columns` picks and orders them (default: the first row's keys)."""
    columns = columns or (list(rows[0]) if rows else [])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_csv_atomic(path: str | os.PathLike, rows, columns: list[str] | None = None) -> Path:
    """Dict rows (see to_csv) or a pandas DataFrame (written without its index)."""
    text = rows.to_csv(index=False) if hasattr(rows, "to_csv") else to_csv(rows, columns)
    return write_text_atomic(path, text)


def copy_atomic(source: str | os.PathLike, path: str | os.PathLike, read: Callable = open,
                write: Callable = open) -> Path:
    """Copy `source` to `path`, atomically, each side opened by its opener (e.g. lzma.open to
    decompress the source or to compress the copy)."""
    def copy(tmp: Path) -> None:
        with read(source, "rb") as src, write(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)

    return _atomic(path, copy)


def save_torch_atomic(obj, path: str | os.PathLike) -> Path:
    import torch

    def save(tmp: Path) -> None:
        try:
            # Through a file object: given a path, torch names the archive inside after the (temporary,
            # random) file name, so equal tensors would give files of other bytes.
            with open(tmp, "wb") as f:
                torch.save(obj, f)
        except RuntimeError as exc:  # torch's writer reports a full disk or a failed write as RuntimeError
            raise OSError(f"torch.save failed: {str(exc).strip().splitlines()[-1][:200]}") from exc

    return _atomic(path, save)


def save_figure_atomic(fig, path: str | os.PathLike, dpi: int = 150) -> Path:
    """The format comes from the suffix; creation time and version are left out so that reruns
    write identical files."""
    fmt = Path(path).suffix.lstrip(".").lower()
    metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None} if fmt == "png" else None
    return _atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight",
                                                 metadata=metadata))


# A finished run's record of its result files' bytes (written by the training job just before its
# completeness marker), so that a result file edited later is refused instead of read.
DIGEST_FILE = "digest.json"
DIGEST_FORMAT = "dbc-bench-run-digest-v1"


def write_digest_atomic(folder: str | os.PathLike, names: tuple[str, ...], pending: dict[str, str | bytes]) -> Path:
    """`folder`/digest.json: the sha256 of each file `names` there, and of each `pending` content (file name ->
    the text or bytes about to be written, or held elsewhere, under that name)."""
    folder = Path(folder)
    files = {name: sha256_file(folder / name) for name in names}
    files.update({name: hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()
                  for name, content in pending.items()})
    return write_json_atomic(folder / DIGEST_FILE, {"format": DIGEST_FORMAT, "files": dict(sorted(files.items()))})


def check_digest(folder: str | os.PathLike) -> None:
    """Every file `folder`/digest.json names still has the bytes it recorded; else one line naming the file."""
    folder = Path(folder)
    record = read_json(folder / DIGEST_FILE)
    if record.get("format") != DIGEST_FORMAT or not isinstance(record.get("files"), dict):
        raise BenchError(f"{folder / DIGEST_FILE}: not a run digest ({DIGEST_FORMAT})")
    for name, digest in record["files"].items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != digest:
            state = "changed" if path.is_file() else "missing"
            raise BenchError(f"{path}: {state} since the run finished (its sha256 is not the one {DIGEST_FILE} "
                             f"records); restore it (git checkout -- {path}) or rerun the run")


def _read_mapping(path: str | os.PathLike, parse: Callable[[str], object], errors: tuple, kind: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path}: file not found")
    try:
        data = parse(path.read_text())
    except (*errors, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: invalid {kind} ({str(exc).splitlines()[0]})") from exc
    if data is None and kind == "YAML":  # an empty YAML file
        data = {}
    if not isinstance(data, dict):
        raise BenchError(f"{path}: expected a mapping at the top level")
    return data


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_yaml(path: str | os.PathLike) -> dict:
    """A YAML file holding a mapping ({} when empty)."""
    return _read_mapping(path, yaml.safe_load, (yaml.YAMLError,), "YAML")


def read_json(path: str | os.PathLike) -> dict:
    """A JSON file holding an object."""
    return _read_mapping(path, json.loads, (json.JSONDecodeError,), "JSON")


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Weights-only loading: a file that carries pickled code is refused, never run."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path}: checkpoint not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own text suggests loading with weights_only=False, which would run the file's code: it is
        # never quoted. A refused GLOBAL means the file names code or objects; anything else, damage.
        text = str(exc)
        named = re.search(r"GLOBAL ([\w.]+)", text)
        if named:
            raise BenchError(f"{path}: the file carries pickled code or objects beyond tensors (it names "
                             f"{named.group(1)}); it was not loaded, and must not be: only weights-only files are "
                             "accepted") from exc
        detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
        reason = detail.group(1) if detail else text.splitlines()[0]
        raise BenchError(f"{path}: not a readable torch file (damaged, or not written by torch.save: "
                         f"{reason[:200]})") from exc
    except Exception as exc:
        raise BenchError(f"{path}: not a readable torch file ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]})") from exc
    if not isinstance(blob, dict):
        raise BenchError(f"{path}: expected a dict of tensors, found {type(blob).__name__}")
    return blob


def require_keys(blob: dict, keys: tuple[str, ...], path, what: str) -> None:
    """A loaded file must hold `keys`: name the file, what it should be and what is missing."""
    missing = [key for key in keys if key not in blob]
    if missing:
        raise BenchError(f"{path}: not {what}: missing key(s) {', '.join(missing)}")


def load_state_checked(module, state: dict, source: str) -> None:
    """load_state_dict with a one-line error naming the file and the first mismatching tensor."""
    own = module.state_dict()
    for key, value in own.items():
        if key not in state:
            raise BenchError(f"{source}: checkpoint lacks '{key}'")
        if tuple(state[key].shape) != tuple(value.shape):
            raise BenchError(f"{source}: '{key}' has shape {tuple(state[key].shape)}, "
                             f"expected {tuple(value.shape)}")
    extra = sorted(set(state) - set(own))
    if extra:
        raise BenchError(f"{source}: checkpoint has unexpected entries {extra[:3]}")
    module.load_state_dict(state)
