# Statistics (rliable), tables and figures from the runs' raw per-episode files.


rule report:
    output:
        report_rule_outputs(),
    input:
        runs=all_final_evals(),
        references=[dataset_summary(t) for t in config["tasks"]],
        paper_results="config/paper_results.yaml",
    params:
        run_dirs=[str(Path(f).parent) for f in all_final_evals()],
        reps=budget["report"]["bootstrap_reps"],
        seed=config["report"]["seed"],
        title=f"budget: {BUDGET}",
        provenance=provenance(),
        out_dir=lambda wc, output: Path(output[0]).parent,
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCH}/report.tsv"
    threads: 1
    conda:
        SOFTWARE
    resources:
        runtime=30,
        mem_mb=4000,
    shell:
        "python workflow/scripts/make_report.py --runs {params.run_dirs} --references {input.references} "
        "--paper-results {input.paper_results} --out {params.out_dir} --reps {params.reps} --seed {params.seed} "
        "--title '{params.title}' --provenance '{params.provenance}' > {log} 2>&1"
