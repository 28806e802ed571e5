# Expert demonstrations as local Minari datasets (never downloaded).


rule collect_demos:
    input:
        unpack(expert_inputs),
    output:
        dataset=directory(f"{RESULTS}/datasets/dbc/{{task}}/expert-v0"),
        summary=f"{RESULTS}/data/{{task}}.json",
    params:
        data=data_budget_args,
        env_kwargs=eval_env_kwargs,
        expert_env=expert_env,
    log:
        f"{LOGS}/collect_demos/{{task}}.log",
    benchmark:
        f"{BENCH}/collect_demos/{{task}}.tsv"
    threads: 1
    conda:
        SOFTWARE
    resources:
        runtime=30,
        mem_mb=2000,
    shell:
        "{params.expert_env}python workflow/scripts/collect_demos.py --task {wildcards.task} {params.data} "
        "--eval-env-kwargs '{params.env_kwargs}' --out {output.dataset} --summary {output.summary} > {log} 2>&1"
