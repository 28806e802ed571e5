"""The speed benchmark (`snakemake --cores N bench`; workflow/scripts/benchmark.py is its command line).

- `bench`: the target's rows in order, and its output files (benchmark.md, benchmark.json);
- `trainers`: each offline trainer of the registry against `plain`, and inference latency;
- `plain`: the baseline, a plain PyTorch loop of the same network and batch (torch only);
- `evaluation`: the evaluation loop against the raw env step rate;
- `online`: GAIL against stable-baselines3 PPO alone;
- `memory`: peak memory of one trainer, in a fresh process;
- `timing`: alternating medians and calibration; `report`: the Markdown tables.

Submodules are imported on use, so `plain` loads without the suite's packages.
"""
