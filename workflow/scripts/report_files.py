"""The files make_report.py writes into its output directory; the Snakefile declares the same
list as the report rules' outputs, so the two cannot drift apart."""

REPORT_FILES = (
    "scores.csv", "aggregates.csv", "improvement.csv", "performance_profiles.csv", "learning_curves.csv",
    "main_table.md", "main_table.tex", "best_table.md", "best_table.tex", "cost_table.md", "cost_table.tex",
    "aggregate_intervals.pdf", "aggregate_intervals.png", "performance_profiles.pdf", "performance_profiles.png",
    "improvement.pdf", "improvement.png", "per_task_scores.pdf", "per_task_scores.png",
    "learning_curves.pdf", "learning_curves.png", "README.md",
)
