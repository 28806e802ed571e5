"""Build the DBC-Bench report for one set of runs: per-run scores, rliable aggregates,
per-task tables (Markdown and LaTeX) and figures (PDF and PNG).

Usage:
  python workflow/scripts/make_report.py --runs results/runs/default \\
      --references refs/maze.json refs/walker.json ... \\
      --paper-results config/paper_results.yaml --out results/report/default \\
      --reps 2000 --seed 0 --title "budget: default"

Every output is written to a temporary name in the output directory and renamed into place,
so an interrupted run leaves either the previous file or the complete new one. Bad input ends
with one line on stderr naming the file or field, and exit status 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import scoring as sc
from report_files import REPORT_FILES

OUTPUTS = REPORT_FILES
REFERENCE_METHOD = "dbc"  # probability of improvement is reported for this method over each other

# What each output shows, for the index page paper/<budget>/README.md.
INDEX = (
    ("main_table.md", "Headline: final-policy score per task and method (mean ± std over seeds, IQM with "
     "95% bootstrap CI) beside the paper's published numbers, and aggregate IQM / median / mean / "
     "optimality gap over tasks."),
    ("aggregate_intervals.png", "Aggregate normalised final scores with 95% stratified-bootstrap CIs (rliable)."),
    ("performance_profiles.png", "Performance profiles (rliable score distributions): the fraction of "
     "(run, task) normalised final scores above each threshold, with 95% stratified-bootstrap CI bands."),
    ("improvement.png", "Probability that a DBC run beats a run of each other method on a random task, "
     "with 95% CIs; an interval clear of 0.5 is a difference the seeds support."),
    ("per_task_scores.png", "Final score of every seed per task and method, with the paper's mean."),
    ("learning_curves.png", "IQM over seeds of each evaluation during training (100 episodes each) "
     "against the fraction of training done, per task, with 95% bootstrap CI bands."),
    ("best_table.md", "Best evaluation during training (optimistic, selected on the evaluation episodes; "
     "not the headline)."),
    ("cost_table.md", "Compute cost per task and method: training, DBC's pre-training, evaluation, "
     "updates per second, peak memory, hardware."),
    ("scores.csv", "One row per run: raw and normalised final and best scores."),
    ("aggregates.csv", "The aggregate estimates and CIs as numbers."),
    ("improvement.csv", "Probability of improvement of DBC over each other method, with CIs."),
    ("performance_profiles.csv", "The performance profiles and their CI bands as numbers."),
    ("learning_curves.csv", "The learning curves' IQM and CIs as numbers (raw scores: success in [0, 1] or return)."),
)

# The experiment targets' outputs beside the main report (make_report --with-experiments).
EXPERIMENTS_INDEX = (
    ("generalization", "FetchPick policies evaluated at noise ratios 1 to 2 beside the paper's table "
     "(generalization.png: success against the ratio).", "generalization.md"),
    ("ablation", "DBC with and without the expert-loss normalisation, with P(DBC > ablated).", "ablation/README.md"),
    ("regularization", "BC, L2-regularised BC and DBC: does DBC's gain exceed plain regularisation?",
     "regularization/README.md"),
    ("lambda_sweep", "DBC over the authors' lambda_DM grid (lambda_sweep/sensitivity.png: final score "
     "against lambda_DM).", "lambda_sweep/sensitivity.md"),
)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", required=True, nargs="+",
                   help="run directories <task>/<method>/seed<k>/ (e.g. results/default/runs/*/*/seed*)")
    p.add_argument("--references", required=True, nargs="+", help="task reference JSON files")
    p.add_argument("--paper-results", required=True, help="config/paper_results.yaml")
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap replications (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="numpy seed set before each rliable call")
    p.add_argument("--title", default="", help="label shown in table captions and figure titles")
    p.add_argument("--budget", default=None,
                   help="keep only runs whose run.json budget equals this (default: all; mixed budgets are an error)")
    p.add_argument("--provenance", default="",
                   help="one line on the command and config that produced these runs (for README.md)")
    p.add_argument("--latency", nargs="*", default=[],
                   help="inference latency files per task and method (evaluate_policy.py --latency-out)")
    p.add_argument("--with-experiments", action="store_true",
                   help="README.md also links the experiment targets' outputs (the main report)")
    p.add_argument("--confidence", type=float, default=0.95, help="CI coverage (default 0.95)")
    p.add_argument("--unequal-seeds", choices=("error", "common"), default="error",
                   help="a method with different seed counts across tasks: fail (default) or "
                        "aggregate only the seeds present on every task")
    return p.parse_args(argv)


def _settings_note(args, n_runs: int) -> str:
    return (f"{n_runs} runs. CIs: rliable stratified bootstrap over seeds, {args.reps} replications, "
            f"{args.confidence * 100:g}% percentile intervals, numpy seed {args.seed} set before each call. "
            f"Std is the sample std over seeds (ddof 1). With 3 seeds the IQM over seeds equals the mean.")


def _document_md(heading: str, sections: list[tuple[str, str, list[str]]]) -> str:
    parts = [f"# {heading}\n"]
    for sub, table_md, notes in sections:
        parts.append(f"\n## {sub}\n\n{table_md}")
        if notes:
            parts.append("\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    return "".join(parts)


def _document_tex(heading: str, sections: list[tuple[str, sc.pd.DataFrame, list[str], str, int]]) -> str:
    parts = [f"% {heading}\n% Generated by workflow/scripts/make_report.py; needs \\usepackage{{booktabs}}.\n"]
    for caption, table, notes, label, n_left in sections:
        full = caption + (". " + " ".join(notes) if notes else "")
        parts.append(sc.latex_table(table, caption=full, label=label, n_left=n_left))
    return "\n".join(parts)


def build_report(args) -> list[Path]:
    refs = sc.load_references(args.references)
    paper = sc.load_paper_results(args.paper_results)
    runs = sc.load_runs(args.runs, refs, budget=args.budget)
    if not 0 < args.confidence < 1:
        raise sc.ReportError(f"--confidence must lie in (0, 1), got {args.confidence}")

    suffix = f" ({args.title})" if args.title else ""
    conf = args.confidence
    settings = _settings_note(args, len(runs))
    norm_note = ("Normalised score: success rate in [0, 1]; return tasks "
                 "(R - R_min) / (R_max - R_min) with the random (min) and expert (max) scores of "
                 "the task reference files. Optimality gap: 1 - mean of min(score, 1).")
    paper_note = ("Paper: the authors' published mean ± std over 3 seeds (config/paper_results.yaml); "
                  "'-' where the paper reports none. Paper FetchPick is evaluated at noise ratio 1.25.")

    tables, aggs, agg_notes = {}, {}, {}
    improvement = sc.pd.DataFrame(columns=["method", "other", "estimate", "ci_low", "ci_high"])
    for kind in sc.SCORE_KINDS:
        matrices, _, notes = sc.score_matrices(runs, f"{kind}_norm", on_unequal=args.unequal_seeds)
        if kind == "final" and REFERENCE_METHOD in matrices and len(matrices) > 1:
            improvement = sc.probability_of_improvement(matrices, REFERENCE_METHOD, args.reps, args.seed, conf)
        aggs[kind] = sc.aggregate_scores(matrices, args.reps, args.seed, conf)
        if kind == "final":
            final_matrices = matrices
        agg_notes[kind] = notes
        tables[kind] = sc.per_task_table(runs, paper, args.reps, args.seed, kind=kind, confidence=conf)

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
            extra = ["Best during training: for each run the maximum over checkpoints (`update`) of the "
                     "mean evaluation score. The checkpoint is chosen on the evaluation episodes "
                     "themselves, so these numbers are biased upwards; main_table.md is the headline."]
        task_fmt = sc.format_task_table(tables[kind], conf)
        agg_fmt = sc.format_aggregate_table(aggs[kind], conf)
        task_notes = extra + [paper_note, settings]
        a_notes = [norm_note] + agg_notes[kind]
        sections = [(task_caption, sc.markdown_table(task_fmt), task_notes),
                    (agg_caption, sc.markdown_table(agg_fmt), a_notes)]
        if kind == "final" and not improvement.empty:
            pairs = sc.pd.DataFrame({
                "Comparison": [f"P({sc.method_label(a)} > {sc.method_label(b)})"
                               for a, b in zip(improvement["method"], improvement["other"])],
                f"Estimate [{conf:.0%} CI]": [sc._ci(e, lo, hi, 3) for e, lo, hi in
                                             zip(improvement["estimate"], improvement["ci_low"], improvement["ci_high"])]})
            sections.append((f"Probability of improvement over tasks{suffix}", sc.markdown_table(pairs), [
                "Probability that a run of the first method scores higher than a run of the second on a "
                "randomly drawn task (rliable, ties count half); an interval excluding 0.5 is a "
                "difference the seeds support."]))
        docs[f"{name}.md"] = _document_md(heading, sections)
        docs[f"{name}.tex"] = _document_tex(heading, [
            (task_caption, task_fmt, task_notes, f"tab:{name}_per_task", 2),
            (agg_caption, agg_fmt, a_notes, f"tab:{name}_aggregates", 1),
        ])

    costs = sc.format_cost_table(sc.cost_table(runs, sc.load_latencies(args.latency)))
    cost_notes = [f"Hardware: {sc.hardware_note()}.",
                  "Times are per seed (means over seeds) from each run's timing.json: training excludes "
                  "evaluation; evaluation covers every evaluation during training. Pre-training is DBC's "
                  "diffusion model, one per task shared by all seeds; the total charges each seed an equal "
                  "share of it. Jobs that ran side by side on a shared machine run slower than alone. "
                  "For GAIL, which learns online, updates/s are environment steps per second of training.",
                  "Latency: median wall time of one call of the first seed's final policy (normalisation "
                  "included) on one environment's observation, and on a batch of the evaluation "
                  "environments' observations (the time each of them waits for its action); '-' where not "
                  "measured (evaluate_policy.py --latency-out)."]
    docs["cost_table.md"] = _document_md(f"DBC-Bench: compute cost{suffix}", [
        (f"Cost per task and method{suffix}", sc.markdown_table(costs), cost_notes)])
    docs["cost_table.tex"] = _document_tex(f"DBC-Bench: compute cost{suffix}", [
        (f"Cost per task and method{suffix}", costs, cost_notes, "tab:cost", 2)])

    index = [f"# DBC-Bench results{suffix}\n",
             f"Produced by `{args.provenance}`.\n" if args.provenance else "",
             "Every number here is computed by the pipeline from the runs' per-episode files "
             "(results/<budget>/runs/); the paper's numbers come from config/paper_results.yaml.\n"]
    for name, what in INDEX:
        index.append(f"## {name}\n\n{what}\n")
        if name.endswith(".png"):
            index.append(f"![{name}]({name})\n")
        elif name.endswith(".md"):
            index.append(f"See [{name}]({name}) (LaTeX: {name[:-3]}.tex).\n")
    if args.with_experiments:
        index.append("## The paper's experiments (named targets; present once each has run)\n")
        index += [f"- `snakemake --cores 8 {target}`: {what} See [{link}]({link}).\n"
                  for target, what, link in EXPERIMENTS_INDEX]
    docs["README.md"] = "\n".join(part for part in index if part)

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise sc.ReportError(f"{out}: cannot create output directory ({exc.strerror})") from None
    written = [sc.atomic_write_csv(runs, out / "scores.csv"),
               sc.atomic_write_csv(aggs["final"], out / "aggregates.csv"),
               sc.atomic_write_csv(improvement, out / "improvement.csv")]
    written += [sc.atomic_write_text(out / name, text) for name, text in docs.items()]
    profiles = sc.performance_profiles(final_matrices, sc.profile_thresholds(final_matrices), args.reps,
                                       args.seed, conf)
    curves = sc.learning_curve_intervals(sc.load_curves(runs), args.reps, args.seed, conf)
    written += [sc.atomic_write_csv(profiles, out / "performance_profiles.csv"),
                sc.atomic_write_csv(curves, out / "learning_curves.csv")]
    palette = sc.method_palette(runs["method"].unique())
    written += sc.plot_performance_profiles(profiles, palette, out / "performance_profiles",
                                            title=args.title or None, confidence=conf)
    written += sc.plot_improvement(improvement, palette, out / "improvement", title=args.title or None,
                                   confidence=conf)
    written += sc.plot_learning_curves(curves, runs.groupby("task")["metric"].first().to_dict(), palette,
                                       out / "learning_curves", title=args.title or None, confidence=conf)
    written += sc.plot_aggregate_intervals(aggs["final"], palette, out / "aggregate_intervals",
                                           title=args.title or None, confidence=conf)
    written += sc.plot_per_task_scores(runs, palette, out / "per_task_scores", kind="final",
                                       paper=paper, title=args.title or None)
    return written


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        build_report(args)
    except sc.ReportError as exc:
        print("make_report: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
