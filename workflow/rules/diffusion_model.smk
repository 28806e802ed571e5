# Is DBC's diffusion model good enough to guide? Its quality per task (target `dm_quality`), and where
# its term starts to act as the model grows (target `dm_budget`: each variant under its own results root).


rule dm_quality:
    input:
        [f"{RESULTS}/dm_quality/{t}.json" for t in config["tasks"]],
    output:
        [f"{PAPER}/dm_quality.{ext}" for ext in ("md", "csv", "pdf", "png")],
    log:
        f"{LOGS}/dm_quality_report.log",
    benchmark:
        f"{BENCH}/dm_quality_report.tsv"
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
        code=code("dm_report.py"),
    shell:
        "python workflow/scripts/dm_report.py quality --quality {input} --out {params.out_dir} "
        "--registry {params.registry} --title '{params.title}' > {log} 2>&1"


rule dm_budget:
    input:
        quality=[f"{root}/dm_quality/{t}.json" for root in DM_BUDGET_ROOTS for t in DM_BUDGET["tasks"]],
        runs=[
            f"{run_dir(t, 'dbc', s, root)}/eval_final.csv"
            for root in DM_BUDGET_ROOTS
            for t in DM_BUDGET["tasks"]
            for s in config["seeds"]
        ],
        bc=[f"{d}/eval_final.csv" for t in DM_BUDGET["tasks"] for d in bc_run_dirs(t)],
        references=[dataset_summary(t) for t in DM_BUDGET["tasks"]],
    output:
        [f"{PAPER}/dm_budget/{name}" for name in DM_BUDGET_FILES],
    log:
        f"{LOGS}/dm_budget_report.log",
    benchmark:
        f"{BENCH}/dm_budget_report.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        variants=dm_budget_variant_args(),
        bc_runs=[d for t in DM_BUDGET["tasks"] for d in bc_run_dirs(t)],
        out_dir=lambda wc, output: Path(output[0]).parent,
        reps=budget["report"]["bootstrap_reps"],
        seed=config["report"]["seed"],
        title=f"budget: {BUDGET}",
        registry=REGISTRY_ARG,
        code=code("dm_report.py"),
    shell:
        "python workflow/scripts/dm_report.py budget {params.variants} --bc-runs {params.bc_runs} "
        "--references {input.references} --out {params.out_dir} --reps {params.reps} --seed {params.seed} "
        "--registry {params.registry} --title '{params.title}' > {log} 2>&1"
