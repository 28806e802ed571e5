# Statistics (rliable), tables and figures from the runs' raw per-episode files.


# The plan itself, for the record: what this config runs and where (pipeline.plan).
localrules:
    write_plan,


rule write_plan:
    output:
        f"{RESULTS}/plan.json",
    log:
        f"{LOGS}/write_plan.log",
    params:
        plan=json.dumps(PLAN.as_json(), indent=1, sort_keys=True),
    run:
        write_text_atomic(output[0], f"{params.plan}\n")


rule report:
    input:
        runs=final_evals(PLAN.main_runs()),
        videos=PLAN.video_dirs(),
        latency=[f"{RESULTS}/latency/{t}/{m}.json" for t in PLAN.tasks for m in config["methods"]],
        references=[PLAN.dataset_summary(t) for t in PLAN.tasks],
        paper_results="config/paper_results.yaml",
    output:
        report_rule_outputs(),
    # One file per report folder: a `reference: shipped` report must not overwrite the full report's.
    log:
        f"{LOGS}/report{PLAN.paper_suffix}.log",
    benchmark:
        f"{BENCH}/report{PLAN.paper_suffix}.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        run_dirs=[PLAN.run_dir(*run) for run in PLAN.main_runs()],
        reps=budget["report"]["bootstrap_reps"],
        seed=config["report"]["seed"],
        title=f"budget: {BUDGET}",
        provenance=PLAN.provenance(),
        out_dir=lambda wc, output: Path(output[0]).parent,
        registry=REGISTRY_ARG,
        reference=config["report"]["reference_method"],
        paper_lengths=lambda wc: quoted(checked("", PLAN.paper_lengths), sort_keys=True),
        # `reference: shipped`: committed runs read, never rebuilt, so they are params, not inputs.
        shipped_runs=PLAN.shipped_run_dirs(),
        shipped_protocol=quoted(PLAN.shipped_protocol(), sort_keys=True),
        shipped_latency=PLAN.shipped_latency_files(),
        code=code("make_report.py"),
    shell:
        "python workflow/scripts/make_report.py --runs {params.run_dirs} --references {input.references} "
        "--paper-results {input.paper_results} --out {params.out_dir} --reps {params.reps} --seed {params.seed} "
        "--latency {input.latency} {params.shipped_latency} --with-experiments --registry {params.registry} "
        "--reference-method {params.reference} --title '{params.title}' --provenance '{params.provenance}' "
        "--paper-lengths {params.paper_lengths} --shipped-runs {params.shipped_runs} "
        "--shipped-protocol {params.shipped_protocol} --videos {input.videos} > {log} 2>&1"
