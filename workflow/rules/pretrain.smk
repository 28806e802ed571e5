# DBC's first stage: one diffusion model of expert [s, a] pairs per task.


rule pretrain_dm:
    output:
        model=f"{RESULTS}/diffusion_model/{{task}}/model.pt",
        curve=f"{RESULTS}/diffusion_model/{{task}}/loss_curve.csv",
        timing=f"{RESULTS}/diffusion_model/{{task}}/timing.json",
    input:
        summary=f"{RESULTS}/data/{{task}}.json",
    params:
        dataset=lambda wc: dataset_dir(wc.task),
        out_dir=lambda wc: f"{RESULTS}/diffusion_model/{wc.task}",
        budget=BUDGET,
        hyperparameters=diffusion_model_hyperparameters,
        device=config["device"],
    log:
        f"{LOGS}/pretrain_dm/{{task}}.log",
    benchmark:
        f"{BENCH}/pretrain_dm/{{task}}.tsv"
    threads: config["train_threads"]
    conda:
        SOFTWARE
    resources:
        runtime=600,
        mem_mb=4000,
    shell:
        "python workflow/scripts/pretrain_dm.py --task {wildcards.task} --budget {params.budget} "
        "--dataset {params.dataset} --out-dir {params.out_dir} --threads {threads} "
        "--device {params.device} > {log} 2>&1"
