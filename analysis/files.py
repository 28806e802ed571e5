"""The files each report writes into its output folder. The Snakefile declares the same names
as the rules' outputs, so the two cannot drift apart; this module imports nothing, so that
parsing the Snakefile stays fast."""

REPORT_FILES = (
    "scores.csv", "aggregates.csv", "improvement.csv", "performance_profiles.csv", "learning_curves.csv",
    "main_table.md", "main_table.tex", "best_table.md", "best_table.tex", "cost_table.md", "cost_table.tex",
    "data_table.md", "data_table.tex",
    "aggregate_intervals.pdf", "aggregate_intervals.png", "performance_profiles.pdf", "performance_profiles.png",
    "improvement.pdf", "improvement.png", "per_task_scores.pdf", "per_task_scores.png",
    "learning_curves.pdf", "learning_curves.png", "README.md",
)
GENERALIZATION_FILES = tuple(f"generalization.{ext}" for ext in ("md", "tex", "csv", "pdf", "png"))
SENSITIVITY_FILES = tuple(f"sensitivity.{ext}" for ext in ("csv", "md", "pdf", "png"))
GUIDANCE_FILES = tuple(f"guidance.{ext}" for ext in ("csv", "md", "pdf", "png"))
