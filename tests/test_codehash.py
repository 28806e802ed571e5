"""Code fingerprints: what a job runs, followed through imports; comments and docstrings do not count."""
import pytest

from dbc_bench import codehash


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A tiny project with the suite's package names, fingerprinted in place of the real one."""
    monkeypatch.setattr(codehash, "ROOT", tmp_path)
    codehash._parsed.cache_clear()
    codehash.fingerprint.cache_clear()
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "__init__.py").write_text("")
    (tmp_path / "methods" / "core.py").write_text("def f(x):\n    return x + 1\n")
    (tmp_path / "methods" / "relative.py").write_text("from .core import f\n")
    (tmp_path / "methods" / "other.py").write_text("Y = 2\n")
    job = "import numpy\nfrom methods.relative import f\n\n\ndef run():\n    import methods.other\n"
    (tmp_path / "job.py").write_text(job)
    yield tmp_path
    codehash._parsed.cache_clear()
    codehash.fingerprint.cache_clear()


def fingerprint_after(project, path, text):
    (project / path).write_text(text)
    codehash._parsed.cache_clear()
    codehash.fingerprint.cache_clear()
    return codehash.fingerprint("job.py")


def test_closure_follows_absolute_relative_and_function_level_imports(project):
    files = {str(p.relative_to(project)) for p in codehash.closure(("job.py",))}
    assert files == {"job.py", "methods/__init__.py", "methods/relative.py", "methods/core.py", "methods/other.py"}


def test_code_changes_change_the_fingerprint_and_comments_do_not(project):
    before = codehash.fingerprint("job.py")
    assert fingerprint_after(project, "methods/core.py", '"""Doc."""\n# why\ndef f(x):\n    """More."""\n'
                             "    return x + 1  # note\n") == before
    assert fingerprint_after(project, "methods/core.py", "def f(x):\n    return x + 2\n") != before
    assert fingerprint_after(project, "methods/core.py", "def f(x):\n    return x + 1\n") == before
    assert fingerprint_after(project, "methods/other.py", "Y = 3\n") != before
