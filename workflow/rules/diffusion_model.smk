# Is DBC's diffusion model good enough to guide? Its quality per task (target `dm_quality`), and where
# its term starts to act as the model grows (target `dm_budget`: each variant under its own results root).
DM_BUDGET_TASKS = PLAN.dm_budget_tasks
DM_BUDGET_FILES = [f"dm_budget.{ext}" for ext in ("md", "csv", "pdf", "png")] + [
    f"dm_budget_activity.{ext}" for ext in ("pdf", "png")
]


rule dm_quality:
    input:
        [f"{RESULTS}/dm_quality/{t}.json" for t in PLAN.tasks],
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
        quality=[f"{root}/dm_quality/{t}.json" for root in PLAN.dm_budget_roots for t in DM_BUDGET_TASKS],
        runs=[
            final_evals([(t, "dbc", s) for t in DM_BUDGET_TASKS for s in PLAN.seeds], root)
            for root in PLAN.dm_budget_roots
        ],
        bc=[f"{d}/eval_final.csv" for t in DM_BUDGET_TASKS for d in PLAN.bc_run_dirs(t)],
        references=[PLAN.dataset_summary(t) for t in DM_BUDGET_TASKS],
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
        variants=PLAN.dm_budget_variant_args(),
        bc_runs=[d for t in DM_BUDGET_TASKS for d in PLAN.bc_run_dirs(t)],
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
