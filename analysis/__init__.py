"""Statistics, tables and figures of DBC-Bench, computed from the result files alone.

The package reads what the pipeline wrote (run directories, reference JSONs, latency and
evaluation files); it never imports the tasks (`envs`) or the methods (`methods`), so it runs
without torch. Method and task names, their order and labels come from the caller as a
`labels.Registry` (the report scripts' `--registry`).

- `labels`: the registry of method and task names: canonical order and display labels;
- `files`: the names of the files each report writes (the Snakefile declares the same);
- `loading`: run directories, references and the paper's numbers -> the per-run score table;
- `statistics`: rliable stratified bootstrap: aggregates, probability of improvement,
  performance profiles, learning-curve intervals;
- `tables`: per-task statistics and their Markdown and LaTeX tables;
- `costs`: compute cost per task and method (timing, pre-training, latency);
- `figures`: the report's figures and the method colours;
- `report`: the main report of one set of runs (what `make_report.py` writes);
- `experiments`: FetchPick generalisation table and the sensitivity to a swept hyperparameter;
- `timing`: where the DAG's time goes, from Snakemake's benchmark files.
"""
