# The pre-training stages (registry.StageSpec, declared by their modules): one rule per stage, each
# training one model per task on its expert [s, a] pairs. DBC's diffusion model is rule pretrain_dm;
# the generative-model ablation's EBM, VAE and GAN (methods/guidance.py) and the action-only model
# (methods/diffusion.py) are rules of their own.


for _stage in registry.stages().values():

    rule:
        name:
            _stage.rule
        input:
            summary="{results}/data/{task}.json",
            # The dataset itself (not committed): a fresh clone has the summaries but must unpack or collect it.
            dataset="{results}/datasets/dbc/{task}/expert-v0",
            # With `diffusion_models: shipped`, the committed model's files where its card's recipe is this
            # job's (methods.pretrained): the job installs them instead of pre-training.
            shipped=lambda wc, name=_stage.name: checked(
                "", lambda: PLAN.shipped_model_files(name, wc.task, results_of(wc))
            ),
        output:
            model=f"{{results}}/{_stage.folder}/model.pt",
            curve=f"{{results}}/{_stage.folder}/loss_curve.csv",
            timing=f"{{results}}/{_stage.folder}/timing.json",
        log:
            f"{{results}}/logs/{_stage.rule}/{{task}}.log",
        benchmark:
            f"{{results}}/benchmarks/{_stage.rule}/{{task}}.tsv"
        conda:
            SOFTWARE
        threads: config["train_threads"]
        resources:
            runtime=600,
            mem_mb=4000,
        params:
            stage=_stage.name,
            out_dir=stage_out_dir(_stage),
            budget=BUDGET,
            hyperparameters=stage_hyperparameters(_stage.name),
            device=config["device"],
            job=job_args,
            code=code("pretrain.py", _stage.source_file),
            shipped=lambda wc, input: "--shipped" if input.shipped else "",
        shell:
            "python workflow/scripts/pretrain.py --stage {params.stage} --task {wildcards.task} "
            "--hyperparameters {params.hyperparameters} --budget {params.budget} --dataset {input.dataset} "
            "--summary {input.summary} --out-dir {params.out_dir} --threads {threads} --device {params.device} "
            "--code {params.code} {params.shipped} {params.job} > {log} 2>&1"


# Maintainers: the budget's trained models of DBC's diffusion model into methods/pretrained/<stage>/<task>/, each
# with its card (`snakemake --cores 2 ship_models --config diffusion_models=trained`; methods.pretrained).
localrules:
    ship_model,
    ship_models,


rule ship_model:
    input:
        model=lambda wc: f"{trained_model_dir(wc)}/model.pt",
        dataset=f"{RESULTS}/datasets/dbc/{{task}}/expert-v0",
    output:
        # A record of what was shipped (the card also written into methods/pretrained/<stage>/<task>/): the
        # shipped files are the pre-training rule's inputs, so no rule may have them as outputs.
        f"{RESULTS}/shipped_models/{{stage}}/{{task}}.json",
    log:
        f"{LOGS}/ship_model/{{stage}}/{{task}}.log",
    benchmark:
        f"{BENCH}/ship_model/{{stage}}/{{task}}.tsv"
    wildcard_constraints:
        task=tasks_pattern(PLAN.tasks),
    conda:
        SOFTWARE
    params:
        trained=trained_model_dir,
        hyperparameters=lambda wc: quoted(PLAN.stage_hyperparameters(wc.stage, wc.task), sort_keys=True),
    shell:
        "python workflow/scripts/ship_model.py --stage {wildcards.stage} --task {wildcards.task} "
        "--hyperparameters {params.hyperparameters} --trained-dir {params.trained} --dataset {input.dataset} "
        "--record {output} > {log} 2>&1"


rule ship_models:
    input:
        [f"{RESULTS}/shipped_models/diffusion_model/{task}.json" for task in PLAN.tasks],
