# DBC's first stage: one diffusion model of expert [s, a] pairs per task; for the generative-model
# ablation, an EBM, a VAE and a GAN of the same pairs (methods/guidance.py).


rule pretrain_dm:
    input:
        summary="{results}/data/{task}.json",
        # The dataset itself (not committed): a fresh clone has the summaries but must unpack or collect it.
        dataset="{results}/datasets/dbc/{task}/expert-v0",
    output:
        model="{results}/diffusion_model/{task}/model.pt",
        curve="{results}/diffusion_model/{task}/loss_curve.csv",
        timing="{results}/diffusion_model/{task}/timing.json",
    log:
        "{results}/logs/pretrain_dm/{task}.log",
    benchmark:
        "{results}/benchmarks/pretrain_dm/{task}.tsv"
    conda:
        SOFTWARE
    threads: config["train_threads"]
    resources:
        runtime=600,
        mem_mb=4000,
    params:
        out_dir=lambda wc: f"{wc.results}/diffusion_model/{wc.task}",
        budget=BUDGET,
        hyperparameters=diffusion_model_hyperparameters,
        device=config["device"],
        code=code("pretrain_dm.py"),
    shell:
        "python workflow/scripts/pretrain_dm.py --task {wildcards.task} --hyperparameters {params.hyperparameters} "
        "--budget {params.budget} --dataset {input.dataset} --summary {input.summary} --out-dir {params.out_dir} --threads {threads} "
        "--device {params.device} --code {params.code} > {log} 2>&1"


rule pretrain_guidance:
    input:
        summary="{results}/data/{task}.json",
        dataset="{results}/datasets/dbc/{task}/expert-v0",
    output:
        model="{results}/guidance_model/{task}/{kind}/model.pt",
        curve="{results}/guidance_model/{task}/{kind}/loss_curve.csv",
        timing="{results}/guidance_model/{task}/{kind}/timing.json",
    log:
        "{results}/logs/pretrain_guidance/{task}/{kind}.log",
    benchmark:
        "{results}/benchmarks/pretrain_guidance/{task}/{kind}.tsv"
    wildcard_constraints:
        kind="ebm|vae|gan",
    conda:
        SOFTWARE
    threads: config["train_threads"]
    resources:
        runtime=600,
        mem_mb=4000,
    params:
        out_dir=lambda wc: f"{wc.results}/guidance_model/{wc.task}/{wc.kind}",
        budget=BUDGET,
        hyperparameters=guidance_model_hyperparameters,
        device=config["device"],
        code=code("pretrain_guidance.py"),
    shell:
        "python workflow/scripts/pretrain_guidance.py --task {wildcards.task} "
        "--hyperparameters {params.hyperparameters} --budget {params.budget} --dataset {input.dataset} --summary {input.summary} "
        "--out-dir {params.out_dir} --threads {threads} --device {params.device} --code {params.code} > {log} 2>&1"
