# `rerender: committed`: paper/<budget>/ and every experiment whose runs are committed, rebuilt from the
# committed results/<budget>/ alone. No rule makes the runs here, so they are inputs as they are; each
# is checked first (completeness marker, digest, budget and evaluation protocol, dataset hashes).
from functools import lru_cache

from analysis.files import EXPERIMENTS
from analysis.loading import COMPLETENESS_MARKER


def _target_files(name):
    target = getattr(rules, name)
    return [str(f) for f in target.input] + [str(f) for f in target.output]


def _runs_of(files):
    return sorted({f for f in files if Path(f).name == COMPLETENESS_MARKER})


@lru_cache(maxsize=None)
def experiment_status():
    """Experiment -> None where every input under results/<budget>/ is committed and its runs pass the
    checks, else why not."""
    status = {}
    for e in EXPERIMENTS:
        files = _target_files(e.name)
        missing = [f for f in files if f.startswith(f"{RESULTS}/") and not Path(f).exists()]
        if missing:
            status[e.name] = f"not committed ({missing[0]} and {len(missing) - 1} more missing)"
            continue
        try:
            PLAN.check_committed_runs(_runs_of(files))
            status[e.name] = None
        except BenchError as exc:
            status[e.name] = str(exc)
    return status


def committed_experiment_outputs():
    """What re-rendering the committed experiments makes: their report files."""
    return [
        f
        for name, why in experiment_status().items()
        if why is None
        for f in _target_files(name)
        if not f.startswith(f"{RESULTS}/")
    ]


if RERENDER:
    _runs = _runs_of(final_evals(PLAN.main_runs()))
    checked("config 'rerender'", lambda: PLAN.check_committed_runs(_runs))
    _done = [name for name, why in experiment_status().items() if why is None]
    print(
        f"DBC-Bench: re-rendering {PAPER}/ from the committed runs ({len(_runs)} in the main report); "
        f"experiments: {', '.join(_done) or 'none'}",
        file=sys.stderr,
    )
    for _name, _why in experiment_status().items():
        if _why is not None:
            print(f"DBC-Bench: not re-rendered: {_name}: {_why}", file=sys.stderr)
