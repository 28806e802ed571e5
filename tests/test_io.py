"""The one writer family: atomic, and an I/O error names the path and leaves no temporary file."""
import errno

import pytest
import torch

from dbc_bench import io
from dbc_bench.errors import BenchError


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("write", [
    lambda path: io.write_text_atomic(path, "new"),
    lambda path: io.write_json_atomic(path, {"a": 1}),
    lambda path: io.save_torch_atomic({"w": torch.zeros(3)}, path),
])
def test_a_failed_write_names_the_path_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, write):
    target = tmp_path / "out" / "file"
    target.parent.mkdir()
    target.write_text("finished work")
    real_replace = io.os.replace
    monkeypatch.setattr(io.os, "replace", no_space)  # the disk fills up at the last step
    with pytest.raises(BenchError, match=f"{target}: cannot write \\(No space left on device\\)"):
        write(target)
    monkeypatch.setattr(io.os, "replace", real_replace)
    assert target.read_text() == "finished work"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file"]


def test_an_unwritable_folder_is_named(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    with pytest.raises(BenchError, match=f"{blocker / 'x.json'}: cannot write"):
        io.write_json_atomic(blocker / "x.json", {})


def test_writes_are_complete_files(tmp_path):
    io.write_csv_atomic(tmp_path / "a.csv", [{"x": 1, "y": 2}], ["y", "x"])
    assert (tmp_path / "a.csv").read_text() == "y,x\n2,1\n"
    io.save_torch_atomic({"w": torch.ones(2)}, tmp_path / "m.pt")
    assert torch.equal(io.load_checkpoint(tmp_path / "m.pt")["w"], torch.ones(2))


def test_equal_checkpoints_are_equal_bytes(tmp_path):
    """Two saves of the same tensors are the same file, whatever its name (issue 30, case 11)."""
    import torch

    from dbc_bench.io import save_torch_atomic

    state = {"w": torch.arange(6.0).reshape(2, 3), "step": 3}
    save_torch_atomic(state, tmp_path / "a" / "model.pt")
    save_torch_atomic(state, tmp_path / "b" / "other_name.pt")
    assert (tmp_path / "a/model.pt").read_bytes() == (tmp_path / "b/other_name.pt").read_bytes()
