"""The DBC-Bench report of one set of runs: per-run scores, rliable aggregates, per-task tables
(Markdown and LaTeX), compute cost, figures (PDF and PNG) and an index page, README.md (the
files of `analysis.files.REPORT_FILES`).

Every output is written to a temporary name in the output folder and renamed into place, so an
interrupted run leaves either the previous file or the complete new one.
"""
from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from analysis import costs, figures, statistics, tables
from analysis.data_table import data_table, expert_note, load_summaries
from analysis.files import EXPERIMENTS, MAIN_OUTPUTS
from analysis.labels import Registry
from analysis.loading import SCORE_KINDS, load_curves, load_paper_results, load_references, load_runs
from dbc_bench.errors import BenchError
from dbc_bench.io import read_json, write_csv_atomic, write_text_atomic

NORMALISATION_NOTE = ("Normalised score: success rate in [0, 1]; return tasks "
                      "(R - R_min) / (R_max - R_min) with the random (min) and expert (max) scores of "
                      "the task reference files. Optimality gap: 1 - mean of min(score, 1).")
PAPER_NOTE = ("Paper: the authors' published mean ± std over 3 seeds (config/paper_results.yaml); "
              "'-' where the paper reports none. Paper FetchPick is evaluated at noise ratio 1.25. "
              "Updates / paper's: the runs' gradient updates (online methods: env steps) as a share of the `paper` "
              "budget's (the authors' settings) on the same data.")
BEST_NOTE = ("Best during training: for each run the maximum over checkpoints (`update`) of the "
             "mean evaluation score. The checkpoint is chosen on the evaluation episodes "
             "themselves, so these numbers are biased upwards; main_table.md is the headline.")
IMPROVEMENT_NOTE = ("Probability that a run of the first method scores higher than a run of the second on a "
                    "randomly drawn task (rliable, ties count half); an interval excluding 0.5 is a "
                    "difference the seeds support.")
COST_NOTES = (
    "Times are per seed (means over seeds) from each run's timing.json: training excludes "
    "evaluation; evaluation covers every evaluation during training. Pre-training is each "
    "method's pre-trained model (DBC's diffusion model; a guided DBC's guidance model), one per task "
    "shared by all seeds; the total charges each seed an equal share of it. Jobs that ran side by "
    "side on a shared machine run slower than alone. "
    "For GAIL, which learns online, updates/s are environment steps per second of training.",
    "Latency: median wall time of one call of the first seed's final policy (normalisation "
    "included) on one environment's observation, and on a batch of the evaluation "
    "environments' observations (the time each of them waits for its action); '-' where not "
    "measured (evaluate_policy.py --latency-out).",
)


@dataclass(frozen=True)
class ReportSettings:
    """How the statistics are computed and the documents labelled."""

    reps: int = 2000  # bootstrap replications
    seed: int = 0  # numpy seed set before each rliable call
    confidence: float = 0.95  # CI coverage
    unequal_seeds: str = "error"  # see analysis.statistics: "error" or "common"
    title: str = ""  # shown in captions and figure titles, e.g. "budget: default"
    provenance: str = ""  # the command and config that produced the runs, for README.md
    videos: tuple[str, ...] = ()  # runs' video folders (episodes.json + MP4s), linked from README.md
    with_experiments: bool = False  # README.md also links the experiment targets' outputs
    registry: Registry = field(default_factory=Registry)
    reference_method: str = "dbc"  # P(reference > X) is reported against each other method X
    # method -> task -> the paper budget's {epochs, batch_size} or {env_steps}: the tables' "Updates / paper's"
    paper_lengths: dict = field(default_factory=dict)


@dataclass
class Scores:
    """The statistics every document of the report is made of."""

    runs: pd.DataFrame
    tables: dict[str, pd.DataFrame]  # per_task_table by score kind
    aggregates: dict[str, pd.DataFrame]  # aggregate_scores by score kind
    notes: dict[str, list[str]]  # score_matrices' notes by score kind
    final_matrices: dict
    improvement: pd.DataFrame


def compute_scores(runs: pd.DataFrame, paper: dict, s: ReportSettings) -> Scores:
    tables_, aggs, notes = {}, {}, {}
    improvement = pd.DataFrame(columns=["method", "other", *statistics.INTERVAL_COLUMNS])
    final_matrices: dict = {}
    for kind in SCORE_KINDS:
        matrices, _, notes[kind] = statistics.score_matrices(runs, f"{kind}_norm", s.unequal_seeds, s.registry)
        if kind == "final":
            final_matrices = matrices
            if s.reference_method in matrices and len(matrices) > 1:
                improvement = statistics.probability_of_improvement(matrices, s.reference_method, s.reps, s.seed,
                                                                    s.confidence)
        aggs[kind] = statistics.aggregate_scores(matrices, s.reps, s.seed, s.confidence)
        tables_[kind] = tables.per_task_table(runs, paper, s.reps, s.seed, kind=kind, confidence=s.confidence,
                                              registry=s.registry, paper_lengths=s.paper_lengths)
    return Scores(runs, tables_, aggs, notes, final_matrices, improvement)


def document_md(heading: str, sections: list[tuple[str, str, list[str]]]) -> str:
    """A Markdown document: (sub-heading, table, notes) per section."""
    parts = [f"# {heading}\n"]
    for sub, table_md, notes in sections:
        parts.append(f"\n## {sub}\n\n{table_md}")
        if notes:
            parts.append("\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    return "".join(parts)


def document_tex(heading: str, sections: list[tuple[str, pd.DataFrame, list[str], str, int]]) -> str:
    """LaTeX tables: (caption, table, notes, label, left-aligned columns) per section."""
    parts = [f"% {heading}\n% Generated by workflow/scripts/make_report.py; needs \\usepackage{{booktabs}}.\n"]
    for caption, table, notes, label, n_left in sections:
        full = caption + (". " + " ".join(notes) if notes else "")
        parts.append(tables.latex_table(table, caption=full, label=label, n_left=n_left))
    return "\n".join(parts)


HTML_STYLE = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin:.5em 0}"
              "th,td{border-bottom:1px solid #ccc;padding:.2em .6em;text-align:right}"
              "th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}")


def document_html(heading: str, sections: list[tuple[str, pd.DataFrame, list[str]]]) -> str:
    """The same tables as one HTML page (what `snakemake --report` shows inline): (caption, table, notes)."""
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(heading)}</title>"
             f"<style>{HTML_STYLE}</style></head><body>\n<h1>{html.escape(heading)}</h1>\n"]
    for caption, table, notes in sections:
        parts.append(f"<h2>{html.escape(caption)}</h2>\n{table.to_html(index=False, border=0, escape=True)}\n")
        if notes:
            parts.append("<ul>\n" + "".join(f"<li>{html.escape(n)}</li>\n" for n in notes) + "</ul>\n")
    parts.append("</body></html>\n")
    return "".join(parts)


def mixing_notes(runs: pd.DataFrame) -> list[str]:
    """Warnings for runs of one table that must not be compared silently: a task's runs trained on
    different datasets, or runs made with different package versions (run.json records both)."""
    notes = []
    for task, group in runs.groupby("task", sort=False):
        recorded = group[group["dataset"] != ""]
        if recorded["dataset"].nunique() > 1:
            parts = [f"{digest} ({', '.join(f'{r.method}/seed{r.seed}' for r in rows.itertuples())})"
                     for digest, rows in recorded.groupby("dataset")]
            notes.append(f"WARNING: the runs of {task} trained on different datasets: {'; '.join(parts)}.")
    recorded = runs[runs["versions"] != ""]
    if recorded["versions"].nunique() > 1:
        by_package: dict[str, set[str]] = {}
        for text in recorded["versions"].unique():
            for pair in text.split():
                name, _, version = pair.partition("=")
                by_package.setdefault(name, set()).add(version)
        differ = ", ".join(f"{name} {' / '.join(sorted(v))}" for name, v in sorted(by_package.items()) if len(v) > 1)
        notes.append(f"WARNING: the runs mix package versions ({differ}); see each run's run.json.")
    return notes


def score_documents(scores: Scores, s: ReportSettings, experts: str = "") -> dict[str, str]:
    """main_table.* (final policy, the headline) and best_table.* (best during training); `experts`:
    a note on the experts' own scores."""
    suffix = f" ({s.title})" if s.title else ""
    settings = (f"{len(scores.runs)} runs. CIs: rliable stratified bootstrap over seeds, {s.reps} replications, "
                f"{s.confidence * 100:g}% percentile intervals, numpy seed {s.seed} set before each call. "
                f"Std is the sample std over seeds (ddof 1). With 3 seeds the IQM over seeds equals the mean.")
    docs = {}
    for kind, name in (("final", "main_table"), ("best", "best_table")):
        if kind == "final":
            heading = f"DBC-Bench: final evaluation{suffix}"
            task_caption = f"Final evaluation per task{suffix}; success in %, return raw"
            agg_caption = f"Aggregate normalised final scores over tasks{suffix}"
            extra = []
        else:
            heading = f"DBC-Bench: BEST evaluation during training{suffix}"
            task_caption = (f"Best evaluation during training per task{suffix}; success in %, return raw; "
                            f"optimistic, not the headline result")
            agg_caption = f"Aggregate normalised best-during-training scores over tasks{suffix}"
            extra = [BEST_NOTE]
        task_fmt = tables.format_task_table(scores.tables[kind], s.confidence, registry=s.registry)
        agg_fmt = tables.format_aggregate_table(scores.aggregates[kind], s.confidence, registry=s.registry)
        activity = tables.dm_activity_note(scores.tables[kind], registry=s.registry)
        task_notes = (mixing_notes(scores.runs) + extra + ([activity] if activity else []) + [PAPER_NOTE, settings]
                      + ([experts] if experts else []))
        agg_notes = [NORMALISATION_NOTE] + scores.notes[kind]
        frames = [(task_caption, task_fmt, task_notes), (agg_caption, agg_fmt, agg_notes)]
        if kind == "final" and not scores.improvement.empty:
            frames.append((f"Probability of improvement over tasks{suffix}",
                           _improvement_table(scores.improvement, s), [IMPROVEMENT_NOTE]))
        docs[f"{name}.md"] = document_md(heading, [(c, tables.markdown_table(t), n) for c, t, n in frames])
        docs[f"{name}.html"] = document_html(heading, frames)
        docs[f"{name}.tex"] = document_tex(heading, [
            (task_caption, task_fmt, task_notes, f"tab:{name}_per_task", 2),
            (agg_caption, agg_fmt, agg_notes, f"tab:{name}_aggregates", 1),
        ])
    return docs


def _improvement_table(improvement: pd.DataFrame, s: ReportSettings) -> pd.DataFrame:
    label = s.registry.method_label
    return pd.DataFrame({
        "Comparison": [f"P({label(a)} > {label(b)})" for a, b in zip(improvement["method"], improvement["other"])],
        f"Estimate [{s.confidence:.0%} CI]": [
            tables.format_interval(e, lo, hi, 3)
            for e, lo, hi in zip(improvement["estimate"], improvement["ci_low"], improvement["ci_high"])]})


def cost_documents(runs: pd.DataFrame, latency_files: Iterable[str | os.PathLike], s: ReportSettings
                   ) -> dict[str, str]:
    suffix = f" ({s.title})" if s.title else ""
    shown = costs.format_cost_table(costs.cost_table(runs, costs.load_latencies(latency_files)), s.registry)
    notes = [f"Hardware: {costs.hardware_note(runs['run_dir'])}.", *COST_NOTES]
    heading, caption = f"DBC-Bench: compute cost{suffix}", f"Cost per task and method{suffix}"
    return {"cost_table.md": document_md(heading, [(caption, tables.markdown_table(shown), notes)]),
            "cost_table.html": document_html(heading, [(caption, shown, notes)]),
            "cost_table.tex": document_tex(heading, [(caption, shown, notes, "tab:cost", 2)])}


def data_documents(summaries: dict[str, dict], paper_results, s: ReportSettings) -> dict[str, str]:
    """data_table.*: the suite's demonstrations beside the authors' (analysis.data_table)."""
    table, notes = data_table(summaries, paper_results, s.registry)
    caption = "Demonstrations: the suite's (this budget's datasets) beside the authors' published data"
    notes = notes + ["Authors' numbers: measured from their published data files (config/paper_results.yaml, "
                     "demonstrations); '-' where unknown."]
    return {"data_table.md": document_md("DBC-Bench: demonstrations", [(caption, tables.markdown_table(table), notes)]),
            "data_table.html": document_html("DBC-Bench: demonstrations", [(caption, table, notes)]),
            "data_table.tex": document_tex("DBC-Bench: demonstrations", [(caption, table, notes, "tab:data", 2)])}


def video_links(folders: Iterable[str | os.PathLike], out: str | os.PathLike) -> list[str]:
    """One line per run: its videos, linked relative to the report folder `out`."""
    lines = []
    for folder in map(Path, folders):
        record = read_json(folder / "episodes.json")
        links = ", ".join(
            f"[seed {e['eval_seed']}]({Path(os.path.relpath(folder / e['video'], out)).as_posix()}) "
            f"({'success' if e['success'] else 'failure'}, return {e['return']:.1f})" for e in record["episodes"])
        lines.append(f"- {record['task']} / {record['method']} / seed {record['seed']}: {links}")
    return ["\n".join(lines) + "\n"] if lines else []


def training_lengths(runs: pd.DataFrame, curves: pd.DataFrame,
                     paper_lengths: dict | None = None) -> dict[tuple[str, str], str]:
    """(task, method) -> the cell's training length, its last evaluation's update, as '9.3k updates' (an online
    method's log counts environment steps: '1.0M env steps'), and its share of the paper budget's length where
    `paper_lengths` gives it ('9.3k updates, 2.3% of paper')."""
    lengths = {}
    last = curves.groupby(["task", "method"])["update"].max()
    for (task, method), total in last.items():
        cell = runs[(runs["task"] == task) & (runs["method"] == method)]
        run_dir = Path(cell["run_dir"].iloc[0])
        log_path = run_dir / "train_log.csv"
        header = log_path.read_text().split("\n", 1)[0] if log_path.is_file() else ""
        unit = "env steps" if header.split(",")[0] == "env_steps" else "updates"
        total = float(total)
        text = f"{total / 1e6:.1f}M" if total >= 1e6 else f"{total / 1e3:.1f}k" if total >= 1e3 else f"{total:.0f}"
        paper = tables.paper_updates((paper_lengths or {}).get(method, {}).get(task),
                                     cell["transitions"].iloc[0] if "transitions" in cell else None)
        share = f", {tables.format_fraction(total / paper)} of paper" if math.isfinite(paper) else ""
        lengths[(task, method)] = f"{text} {unit}{share}"
    return lengths


def index_page(s: ReportSettings, warnings: Iterable[str] = (), out: str | os.PathLike = ".",
               main_table: str = "") -> str:
    """README.md: the main table inline (`main_table`: main_table.md's text) and the figures that carry the
    story first, then every other output with its caption (figures inline); `warnings` (mixing_notes)
    above all."""
    index = [f"# DBC-Bench results{f' ({s.title})' if s.title else ''}\n",
             "".join(f"**{w}**\n\n" for w in warnings),
             f"Produced by `{s.provenance}`.\n" if s.provenance else "",
             "Every number here is computed by the pipeline from the runs' per-episode files "
             "(results/<budget>/runs/); the paper's numbers come from config/paper_results.yaml.\n"]
    key = [o for o in MAIN_OUTPUTS if o.key]
    rest = [o for o in MAIN_OUTPUTS if not o.key]
    for output in key:
        if output.is_figure:
            index.append(f"## {output.name}\n\n{output.caption}\n\n![{output.name}]({output.name})\n")
        elif main_table and output.name == "main_table.md":
            # its own '# ' heading left out, its sections one level down
            body = "\n".join(f"#{line}" if line.startswith("## ") else line
                             for line in main_table.splitlines()[1:]).strip("\n")
            index.append(f"## The main table\n\n{output.caption} From [{output.name}]({output.name}) "
                         f"(LaTeX: {output.files[1]}).\n\n{body}\n")
    index.append("## Every output\n")
    for output in rest + [o for o in key if o.name == "main_table.md" and not main_table]:
        name = output.name
        index.append(f"### {name}\n\n{output.caption}\n")
        if output.is_figure:
            index.append(f"![{name}]({name})\n")
        elif name.endswith(".md"):
            index.append(f"See [{name}]({name})" + (f" (LaTeX: {output.files[1]})" if "tex" in output.formats else "")
                         + ".\n")
    if s.videos:
        index.append("## Videos\n\nEach run's final policy in its first evaluation episodes (seed, success, return).\n")
        index += video_links(s.videos, out)
    if s.with_experiments:
        index.append("## The paper's experiments (named targets; present once each has run)\n")
        index += [f"- `snakemake --cores 8 {e.name}`: {e.caption} See [{e.link}]({e.link}).\n" for e in EXPERIMENTS]
    return "\n".join(part for part in index if part)


def build_report(run_dirs: Iterable[str | os.PathLike], reference_files: Iterable[str | os.PathLike],
                 paper_results: str | os.PathLike, out: str | os.PathLike, settings: ReportSettings = ReportSettings(),
                 latency_files: Iterable[str | os.PathLike] = (), budget: str | None = None) -> list[Path]:
    """Write the report of `run_dirs` into `out` (created if missing); returns the files written.
    `budget` keeps only the runs of that budget (see loading.load_runs)."""
    s = settings
    if not 0 < s.confidence < 1:
        raise BenchError(f"confidence must lie in (0, 1), got {s.confidence}")
    reference_files = list(reference_files)
    refs = load_references(reference_files)
    summaries = load_summaries(reference_files)
    paper = load_paper_results(paper_results)
    runs = load_runs(run_dirs, refs, s.registry, budget=budget)
    scores = compute_scores(runs, paper, s)
    docs = {**score_documents(scores, s, expert_note(summaries, s.registry)),
            **cost_documents(runs, latency_files, s),
            **data_documents(summaries, paper_results, s)}
    docs["README.md"] = index_page(s, mixing_notes(runs), out, docs["main_table.md"])

    out = Path(out)
    written = [write_csv_atomic(out / "scores.csv", runs),
               write_csv_atomic(out / "aggregates.csv", scores.aggregates["final"]),
               write_csv_atomic(out / "improvement.csv", scores.improvement)]
    written += [write_text_atomic(out / name, text) for name, text in docs.items()]
    matrices = scores.final_matrices
    profiles = statistics.performance_profiles(matrices, statistics.profile_thresholds(matrices), s.reps, s.seed,
                                               s.confidence)
    run_curves = load_curves(runs)
    curves = statistics.learning_curve_intervals(run_curves, s.reps, s.seed, s.confidence, s.registry)
    written += [write_csv_atomic(out / "performance_profiles.csv", profiles),
                write_csv_atomic(out / "learning_curves.csv", curves)]
    palette = figures.method_palette(runs["method"].unique(), s.registry)
    plot = {"title": s.title or None, "registry": s.registry}
    written += figures.plot_performance_profiles(profiles, palette, out / "performance_profiles",
                                                 confidence=s.confidence, **plot)
    written += figures.plot_improvement(scores.improvement, palette, out / "improvement", confidence=s.confidence,
                                        **plot)
    written += figures.plot_learning_curves(curves, runs.groupby("task")["metric"].first().to_dict(), palette,
                                            out / "learning_curves", confidence=s.confidence,
                                            lengths=training_lengths(runs, run_curves, s.paper_lengths), **plot)
    written += figures.plot_aggregate_intervals(scores.aggregates["final"], palette, out / "aggregate_intervals",
                                                confidence=s.confidence, **plot)
    written += figures.plot_per_task_scores(runs, palette, out / "per_task_scores", kind="final", paper=paper,
                                            **plot)
    return written
