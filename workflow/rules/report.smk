# Statistics (rliable), tables and figures from the runs' raw per-episode files.


rule measure_latency:
    input:
        # The first seed's final policy stands for the method: latency depends on the network, not its weights.
        final=lambda wc: f"{run_dir(wc.task, wc.method, config['seeds'][0])}/eval_final.csv",
    output:
        f"{RESULTS}/latency/{{task}}/{{method}}.json",
    log:
        f"{LOGS}/measure_latency/{{task}}/{{method}}.log",
    benchmark:
        f"{BENCH}/measure_latency/{{task}}/{{method}}.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        run_dir=lambda wc: run_dir(wc.task, wc.method, config["seeds"][0]),
        num_envs=budget["evaluation"]["num_envs"],
        env_kwargs=eval_env_kwargs,
        device=config["device"],
        code=method_code("evaluate_policy.py"),
    shell:
        "python workflow/scripts/evaluate_policy.py --run-dir {params.run_dir} --latency-out {output} "
        "--envs {params.num_envs} --env-kwargs {params.env_kwargs} --device {params.device} > {log} 2>&1"


# `evaluation.videos: N`: a run's final policy in its first N evaluation episodes, as MP4. Rendering is
# headless: OSMesa on any machine (libosmesa6); VIDEO_MUJOCO_GL=egl uses a GPU instead.
rule record_videos:
    input:
        final=f"{RESULTS}/runs/{{task}}/{{method}}/seed{{seed}}/eval_final.csv",
        model=f"{RESULTS}/runs/{{task}}/{{method}}/seed{{seed}}/model.pt",
    output:
        report(
            directory(f"{RESULTS}/videos/{{task}}/{{method}}/seed{{seed}}"),
            patterns=["{name}.mp4"],
            caption=caption_file("videos", VIDEOS_CAPTION),
            category="Videos",
            subcategory="{task}",
            labels={"method": "{method}", "seed": "{seed}", "episode": "{name}"},
        ),
    log:
        f"{LOGS}/record_videos/{{task}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/record_videos/{{task}}/{{method}}/seed{{seed}}.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        run_dir=lambda wc, input: Path(input.final).parent,
        episodes=config["evaluation"]["videos"],
        env_kwargs=eval_env_kwargs,
        device=config["device"],
        code=method_code("evaluate_policy.py"),
    shell:
        "MUJOCO_GL=${{VIDEO_MUJOCO_GL:-osmesa}} PYOPENGL_PLATFORM=${{VIDEO_MUJOCO_GL:-osmesa}} "
        "python workflow/scripts/evaluate_policy.py --run-dir {params.run_dir} "
        "--videos-out {output} --episodes {params.episodes} --env-kwargs {params.env_kwargs} "
        "--device {params.device} > {log} 2>&1"


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
