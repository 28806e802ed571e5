"""FetchPick generalisation (the paper's table): success of each trained policy when the initial
object and goal sampling box is scaled by noise ratio r, beside the paper's numbers.

Input files are named <...>/<method>/seed<k>/r<ratio>.csv (one row per episode, from
evaluate_policy.py). Writes generalization.md/.tex, generalization.csv and generalization.pdf/.png.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

import scoring as sc

NAME = re.compile(r"(?P<method>[^/]+)/seed(?P<seed>\d+)/r(?P<ratio>[0-9.]+)\.csv$")


def load(files: list[str]) -> pd.DataFrame:
    rows = []
    for f in files:
        match = NAME.search(Path(f).as_posix())
        if not match:
            raise sc.ReportError(f"{f}: expected a path ending in <method>/seed<k>/r<ratio>.csv")
        frame = pd.read_csv(f)
        if "success" not in frame or frame.empty:
            raise sc.ReportError(f"{f}: no 'success' column or no episodes")
        rows.append({"method": match["method"], "seed": int(match["seed"]), "ratio": float(match["ratio"]),
                     "success": 100.0 * frame["success"].mean(), "episodes": len(frame)})
    return pd.DataFrame(rows)


def paper_table(path: Path) -> dict[tuple[str, float], tuple[float, float]]:
    block = (yaml.safe_load(path.read_text()) or {}).get("fetch_pick_generalisation", {}).get("results", {})
    return {(m, float(r)): (c["mean"], c["std"]) for m, cells in block.items() for r, c in cells.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--evals", nargs="+", required=True)
    p.add_argument("--paper-results", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    try:
        df = load(args.evals)
        paper = paper_table(args.paper_results)
    except sc.ReportError as exc:
        print(f"generalization_report: error: {exc}", file=sys.stderr)
        return 1
    stats = (df.groupby(["method", "ratio"])["success"].agg(["mean", "std", "size"]).reset_index())
    methods = sc.order_methods(stats["method"].unique())
    ratios = sorted(stats["ratio"].unique())
    table = []
    for m in methods:
        row = {"Method": sc.method_label(m)}
        for r in ratios:
            cell = stats[(stats.method == m) & (stats.ratio == r)].iloc[0]
            ours = f"{cell['mean']:.1f} ± {0.0 if np.isnan(cell['std']) else cell['std']:.1f}"
            ref = paper.get((m, r))
            row[f"r = {r:g}"] = ours + (f" (paper {ref[0]:.1f} ± {ref[1]:.1f})" if ref else " (paper -)")
        table.append(row)
    table = pd.DataFrame(table)
    episodes = "/".join(str(n) for n in sorted(df["episodes"].unique()))
    note = (f"FetchPick success (%) of the final policies, mean ± std over seeds, {episodes} episodes each, "
            f"demonstrations collected at r = 1{'; ' + args.title if args.title else ''}.")
    args.out.mkdir(parents=True, exist_ok=True)
    sc.atomic_write_csv(stats, args.out / "generalization.csv")
    sc.atomic_write_text(args.out / "generalization.md",
                         f"# FetchPick generalisation\n\n{sc.markdown_table(table)}\n\n- {note}\n")
    sc.atomic_write_text(args.out / "generalization.tex", sc.latex_table(table, caption=note,
                                                                          label="tab:generalization"))
    palette = sc.method_palette(methods)
    fig, ax = sc.plt.subplots(figsize=(6, 4))
    for m in methods:
        s = stats[stats.method == m].sort_values("ratio")
        ax.plot(s["ratio"], s["mean"], marker="o", color=palette[m], label=sc.method_label(m))
        ax.fill_between(s["ratio"], s["mean"] - s["std"].fillna(0), s["mean"] + s["std"].fillna(0),
                        color=palette[m], alpha=0.2)
        ref = [(r, paper[(m, r)][0]) for r in ratios if (m, r) in paper]
        if ref:
            ax.plot(*zip(*ref), linestyle="--", color=palette[m], alpha=0.7)
    ax.set_xlabel("noise ratio r of the initial object and goal sampling")
    ax.set_ylabel("success rate (%)")
    ax.set_title("FetchPick generalisation (dashed: paper)" + (f"\n{args.title}" if args.title else ""))
    ax.legend()
    sc._save_pdf_png(fig, args.out / "generalization")
    sc.plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
