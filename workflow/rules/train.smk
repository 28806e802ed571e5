# Training and evaluation of every (task, method, seed).


rule train:
    input:
        unpack(method_inputs),
        summary="{results}/data/{task}.json",
        # The dataset itself (not committed): a fresh clone has the summaries but must unpack or collect it.
        dataset="{results}/datasets/dbc/{task}/expert-v0",
    output:
        final="{results}/runs/{task}/{method}/seed{seed}/eval_final.csv",
        curve="{results}/runs/{task}/{method}/seed{seed}/eval_curve.csv",
        log="{results}/runs/{task}/{method}/seed{seed}/train_log.csv",
        info="{results}/runs/{task}/{method}/seed{seed}/run.json",
        timing="{results}/runs/{task}/{method}/seed{seed}/timing.json",
        model="{results}/runs/{task}/{method}/seed{seed}/model.pt",
        digest="{results}/runs/{task}/{method}/seed{seed}/digest.json",
    log:
        "{results}/logs/train/{task}/{method}/seed{seed}.log",
    benchmark:
        "{results}/benchmarks/train/{task}/{method}/seed{seed}.tsv"
    conda:
        SOFTWARE
    threads: config["train_threads"]
    resources:
        runtime=240,
        mem_mb=4000,
    params:
        run_dir=lambda wc: PLAN.run_dir(wc.task, wc.method, wc.seed, wc.results),
        env_kwargs=env_kwargs,
        hyperparameters=method_hyperparameters,
        inputs=input_args,
        evaluation=budget["evaluation"],
        budget=BUDGET,
        device=config["device"],
        job=job_args,
        code=method_code("train_policy.py"),
    shell:
        "python workflow/scripts/train_policy.py --task {wildcards.task} --method '{wildcards.method}' "
        "--seed {wildcards.seed} --hyperparameters {params.hyperparameters} {params.inputs} "
        "--budget {params.budget} --dataset {input.dataset} --summary {input.summary} --run-dir '{params.run_dir}' "
        "--threads {threads} --device {params.device} "
        "--eval-episodes {params.evaluation[episodes]} --eval-envs {params.evaluation[num_envs]} "
        "--eval-points {params.evaluation[points]} --eval-env-kwargs {params.env_kwargs} --code {params.code} "
        "{params.job} > '{log}' 2>&1"
