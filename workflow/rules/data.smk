# Expert demonstrations as local Minari datasets (never downloaded).


rule collect_demos:
    input:
        unpack(expert_inputs),
    output:
        dataset=directory(f"{RESULTS}/datasets/dbc/{{task}}/expert-v0"),
        summary=f"{RESULTS}/data/{{task}}.json",
    log:
        f"{LOGS}/collect_demos/{{task}}.log",
    benchmark:
        f"{BENCH}/collect_demos/{{task}}.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        data=data_budget_args,
        env_kwargs=eval_env_kwargs,
        expert_env=expert_env,
        code=lambda wc: code("collect_demos.py", task_module(wc.task), expert_module(wc.task)),
    shell:
        "{params.expert_env}python workflow/scripts/collect_demos.py --task {wildcards.task} {params.data} "
        "--eval-env-kwargs {params.env_kwargs} --out {output.dataset} --summary {output.summary} > {log} 2>&1"
