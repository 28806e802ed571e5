# The pre-training stages (registry.StageSpec, declared by their modules): one rule per stage, each
# training one model per task on its expert [s, a] pairs. DBC's diffusion model is rule pretrain_dm;
# the generative-model ablation's EBM, VAE and GAN (methods/guidance.py) and the action-only model
# (methods/diffusion.py) are rules of their own.


def stage_out_dir(stage):
    return lambda wildcards: stage.out_dir(wildcards.results, wildcards.task)


for _stage in registry.stages().values():

    rule:
        name:
            _stage.rule
        input:
            summary="{results}/data/{task}.json",
            # The dataset itself (not committed): a fresh clone has the summaries but must unpack or collect it.
            dataset="{results}/datasets/dbc/{task}/expert-v0",
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
        shell:
            "python workflow/scripts/pretrain.py --stage {params.stage} --task {wildcards.task} "
            "--hyperparameters {params.hyperparameters} --budget {params.budget} --dataset {input.dataset} "
            "--summary {input.summary} --out-dir {params.out_dir} --threads {threads} --device {params.device} "
            "--code {params.code} {params.job} > {log} 2>&1"
