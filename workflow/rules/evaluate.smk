# Jobs that run a trained policy or model again: its inference latency, videos, the generalisation
# evaluations and the diffusion model's quality. Like training, they are left out when the paper is
# re-rendered from the committed runs (config `rerender`: their outputs are committed).
from analysis.files import VIDEOS_CAPTION


rule measure_latency:
    input:
        # The first seed's final policy stands for the method: latency depends on the network, not its weights.
        final=lambda wc: f"{PLAN.run_dir(wc.task, wc.method, PLAN.seeds[0])}/eval_final.csv",
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
        run_dir=lambda wc: PLAN.run_dir(wc.task, wc.method, PLAN.seeds[0]),
        num_envs=budget["evaluation"]["num_envs"],
        env_kwargs=env_kwargs,
        device=config["device"],
        job=job_args,
        code=method_code("evaluate_policy.py"),
    shell:
        "python workflow/scripts/evaluate_policy.py --run-dir {params.run_dir} --latency-out {output} "
        "--envs {params.num_envs} --env-kwargs {params.env_kwargs} --device {params.device} {params.job} > {log} 2>&1"


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
        env_kwargs=env_kwargs,
        device=config["device"],
        job=job_args,
        code=method_code("evaluate_policy.py"),
    shell:
        "MUJOCO_GL=${{VIDEO_MUJOCO_GL:-osmesa}} PYOPENGL_PLATFORM=${{VIDEO_MUJOCO_GL:-osmesa}} "
        "python workflow/scripts/evaluate_policy.py --run-dir {params.run_dir} "
        "--videos-out {output} --episodes {params.episodes} --env-kwargs {params.env_kwargs} "
        "--device {params.device} {params.job} > {log} 2>&1"


rule evaluate_generalization:
    input:
        final=f"{RESULTS}/runs/{PLAN.generalization['task']}/{{method}}/seed{{seed}}/eval_final.csv",
        model=f"{RESULTS}/runs/{PLAN.generalization['task']}/{{method}}/seed{{seed}}/model.pt",
    output:
        f"{RESULTS}/generalization/{{method}}/seed{{seed}}/r{{ratio}}.csv",
    log:
        f"{LOGS}/evaluate_generalization/{{method}}/seed{{seed}}/r{{ratio}}.log",
    benchmark:
        f"{BENCH}/evaluate_generalization/{{method}}/seed{{seed}}/r{{ratio}}.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        run_dir=lambda wc, input: Path(input.model).parent,
        env_kwargs=lambda wc: quoted({PLAN.generalization["env_kwarg"]: float(wc.ratio)}),
        episodes=budget["evaluation"]["episodes"],
        num_envs=budget["evaluation"]["num_envs"],
        device=config["device"],
        job=job_args,
        code=method_code("evaluate_policy.py"),
    shell:
        "python workflow/scripts/evaluate_policy.py --run-dir {params.run_dir} --out {output} "
        "--env-kwargs {params.env_kwargs} --episodes {params.episodes} --envs {params.num_envs} "
        "--device {params.device} {params.job} > {log} 2>&1"


rule measure_dm_quality:
    input:
        model="{results}/diffusion_model/{task}/model.pt",
        summary="{results}/data/{task}.json",
        dataset="{results}/datasets/dbc/{task}/expert-v0",
        bc=lambda wc: [f"{d}/{name}" for d in PLAN.bc_run_dirs(wc.task) for name in ("eval_final.csv", "model.pt")],
    output:
        "{results}/dm_quality/{task}.json",
    log:
        "{results}/logs/dm_quality/{task}.log",
    benchmark:
        "{results}/benchmarks/dm_quality/{task}.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        hyperparameters=stage_hyperparameters("diffusion_model"),
        bc_runs=lambda wc: " ".join(f"--bc-run {d}" for d in PLAN.bc_run_dirs(wc.task)),
        job=job_args,
        # BC's module is reached through the registry, the task's env through its entry point.
        code=lambda wc: plan.method_code("dm_quality.py", "bc", wc.task),
    shell:
        "python workflow/scripts/dm_quality.py --task {wildcards.task} --hyperparameters {params.hyperparameters} "
        "--model {input.model} --dataset {input.dataset} --summary {input.summary} {params.bc_runs} "
        "--out {output} {params.job} > {log} 2>&1"
