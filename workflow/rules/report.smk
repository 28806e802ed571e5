# Statistics (rliable), tables and figures from the runs' raw per-episode files.


rule report:
    input:
        runs=all_final_evals(),
        videos=all_videos(),
        latency=[f"{RESULTS}/latency/{t}/{m}.json" for t in config["tasks"] for m in config["methods"]],
        references=[dataset_summary(t) for t in config["tasks"]],
        paper_results="config/paper_results.yaml",
    output:
        report_rule_outputs(),
    # One file per report folder: a `reference: shipped` report must not overwrite the full report's.
    log:
        f"{LOGS}/report{PAPER_SUFFIX}.log",
    benchmark:
        f"{BENCH}/report{PAPER_SUFFIX}.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        run_dirs=[str(Path(f).parent) for f in all_final_evals()],
        reps=budget["report"]["bootstrap_reps"],
        seed=config["report"]["seed"],
        title=f"budget: {BUDGET}",
        provenance=provenance(),
        out_dir=lambda wc, output: Path(output[0]).parent,
        registry=REGISTRY_ARG,
        reference=config["report"]["reference_method"],
        paper_lengths=lambda wc: paper_lengths(),
        # `reference: shipped`: committed runs read, never rebuilt, so they are params, not inputs.
        shipped_runs=shipped_run_dirs(),
        shipped_protocol=shlex.quote(json.dumps(shipped_protocol(), sort_keys=True)),
        shipped_latency=shipped_latency_files(),
        code=code("make_report.py"),
    shell:
        "python workflow/scripts/make_report.py --runs {params.run_dirs} --references {input.references} "
        "--paper-results {input.paper_results} --out {params.out_dir} --reps {params.reps} --seed {params.seed} "
        "--latency {input.latency} {params.shipped_latency} --with-experiments --registry {params.registry} "
        "--reference-method {params.reference} --title '{params.title}' --provenance '{params.provenance}' "
        "--paper-lengths {params.paper_lengths} --shipped-runs {params.shipped_runs} "
        "--shipped-protocol {params.shipped_protocol} --videos {input.videos} > {log} 2>&1"
