# The paper's experiments beyond the main table, each a named target.
from analysis.files import EXPERIMENTS, GENERALIZATION_FILES, GUIDANCE_FILES, RUN_EXPERIMENTS, SENSITIVITY_FILES


rule generalization_report:
    input:
        evals=PLAN.generalization_evals(),
        paper_results="config/paper_results.yaml",
    output:
        [f"{PAPER}/{name}" for name in GENERALIZATION_FILES],
    log:
        f"{LOGS}/generalization_report.log",
    benchmark:
        f"{BENCH}/generalization_report.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        out_dir=lambda wc, output: Path(output[0]).parent,
        title=f"budget: {BUDGET}",
        registry=REGISTRY_ARG,
        code=code("generalization_report.py"),
    shell:
        "python workflow/scripts/generalization_report.py --evals {input.evals} "
        "--paper-results {input.paper_results} --out {params.out_dir} --registry {params.registry} "
        "--title '{params.title}' > {log} 2>&1"


rule generalization:
    input:
        rules.generalization_report.output,
        PLAN.generalization_evals(),  # each evaluation a target too (see rule all)


# Ablation, regularisation and lambda sweep: extra runs through the same train rule, each
# reported by the same statistics into paper/<budget>/<experiment>/.
rule experiment_report:
    input:
        runs=lambda wc: [f"{d}/eval_final.csv" for d in PLAN.experiment_run_dirs(wc.experiment)],
        references=lambda wc: [PLAN.dataset_summary(t) for t in config["experiments"][wc.experiment]["tasks"]],
        paper_results="config/paper_results.yaml",
    output:
        [f"{PAPER}/{{experiment}}/{name}" for name in REPORT_FILES],
    log:
        f"{LOGS}/experiment_report/{{experiment}}.log",
    benchmark:
        f"{BENCH}/experiment_report/{{experiment}}.tsv"
    wildcard_constraints:
        experiment="|".join(RUN_EXPERIMENTS),
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        run_dirs=lambda wc: PLAN.experiment_run_dirs(wc.experiment),
        reps=budget["report"]["bootstrap_reps"],
        seed=config["report"]["seed"],
        title=lambda wc: f"{wc.experiment}, budget: {BUDGET}",
        provenance=lambda wc: f"snakemake {wc.experiment} --config budget={BUDGET}",
        out_dir=lambda wc, output: Path(output[0]).parent,
        registry=REGISTRY_ARG,
        reference=config["report"]["reference_method"],
        code=code("make_report.py"),
    shell:
        "python workflow/scripts/make_report.py --runs {params.run_dirs} --references {input.references} "
        "--paper-results {input.paper_results} --out {params.out_dir} --reps {params.reps} --seed {params.seed} "
        "--registry {params.registry} --reference-method {params.reference} --title '{params.title}' "
        "--provenance '{params.provenance}' > {log} 2>&1"


rule sweep_report:
    input:
        f"{PAPER}/lambda_sweep/scores.csv",
    output:
        [f"{PAPER}/lambda_sweep/{name}" for name in SENSITIVITY_FILES],
    log:
        f"{LOGS}/sweep_report.log",
    benchmark:
        f"{BENCH}/sweep_report.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        method=config["experiments"]["lambda_sweep"]["method"],
        field=config["experiments"]["lambda_sweep"]["field"],
        out_dir=lambda wc, output: Path(output[0]).parent,
        title=f"budget: {BUDGET}",
        registry=REGISTRY_ARG,
        code=code("sweep_report.py"),
    shell:
        "python workflow/scripts/sweep_report.py --scores {input} --method {params.method} --key {params.field} "
        "--registry {params.registry} --out {params.out_dir} --title '{params.title}' > {log} 2>&1"


rule guidance_report:
    input:
        scores=f"{PAPER}/generative_ablation/scores.csv",
        paper_results="config/paper_results.yaml",
    output:
        [f"{PAPER}/generative_ablation/{name}" for name in GUIDANCE_FILES],
    log:
        f"{LOGS}/guidance_report.log",
    benchmark:
        f"{BENCH}/guidance_report.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        out_dir=lambda wc, output: Path(output[0]).parent,
        title=f"budget: {BUDGET}",
        code=code("guidance_report.py"),
    shell:
        "python workflow/scripts/guidance_report.py --scores {input.scores} --paper-results {input.paper_results} "
        "--out {params.out_dir} --title '{params.title}' > {log} 2>&1"


# Each methods x tasks experiment's target (analysis.files.EXPERIMENTS): its report, its own further
# files (the sweep's and the ablation's figures), and every run.
for _experiment in (e for e in EXPERIMENTS if e.runs):

    rule:
        name:
            _experiment.name
        input:
            f"{PAPER}/{_experiment.name}/main_table.md",
            [f"{PAPER}/{_experiment.name}/{name}" for name in _experiment.extra],
            [f"{d}/eval_final.csv" for d in PLAN.experiment_run_dirs(_experiment.name)],
