# DBC-Bench: expert data -> Minari datasets -> training over methods x tasks x seeds -> evaluation
# -> statistics, figures and tables in paper/<budget>/.  Run:  snakemake --cores 8 all
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


# `rerender: committed` defines the report rules only: the committed runs are their inputs as they are.
if not RERENDER:

    include: "workflow/rules/experts.smk"
    include: "workflow/rules/data.smk"
    include: "workflow/rules/pretrain.smk"
    include: "workflow/rules/train.smk"
    include: "workflow/rules/evaluate.smk"
    include: "workflow/rules/bench.smk"
    include: "workflow/rules/verify.smk"


include: "workflow/rules/report.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/diffusion_model.smk"
include: "workflow/rules/rerender.smk"


rule all:
    default_target: True
    input:
        report_outputs(),
        [] if RERENDER else rules.write_plan.output,
        # Every run's completeness marker as a target of its own: Snakemake does not remake a missing
        # intermediate file whose downstream outputs exist, so a run deleted under a finished report
        # (e.g. a killed --forcerun) would otherwise go unnoticed.
        final_evals(PLAN.main_runs()),
        # Re-rendering: every experiment whose runs are committed, too.
        committed_experiment_outputs() if RERENDER else [],
