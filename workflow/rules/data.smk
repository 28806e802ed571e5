# Expert demonstrations as local Minari datasets (never downloaded).


rule collect_demos:
    input:
        unpack(expert_inputs),
        unpack(shipped_demo_inputs),
    output:
        dataset=directory("{results}/datasets/dbc/{task}/expert-v0"),
        summary="{results}/data/{task}.json",
    log:
        "{results}/logs/collect_demos/{task}.log",
    benchmark:
        "{results}/benchmarks/collect_demos/{task}.tsv"
    wildcard_constraints:
        task=tasks_pattern(task for task in envs.TASKS if task not in IMPORTED),
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
        demos=demos_mode,
        code=lambda wc: code("collect_demos.py", task_module(wc.task), expert_module(wc.task)),
    shell:
        "{params.expert_env}python workflow/scripts/collect_demos.py --task {wildcards.task} {params.data} "
        "--eval-env-kwargs {params.env_kwargs} --demos {params.demos} --out {output.dataset} "
        "--summary {output.summary} > {log} 2>&1"


# A user's own demonstrations (config key `datasets`), checked and written in the same layout.
rule import_demos:
    input:
        imported_source_files,
    output:
        dataset=directory("{results}/datasets/dbc/{task}/expert-v0"),
        summary="{results}/data/{task}.json",
    log:
        "{results}/logs/import_demos/{task}.log",
    benchmark:
        "{results}/benchmarks/import_demos/{task}.tsv"
    wildcard_constraints:
        task=tasks_pattern(IMPORTED),
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        source=lambda wc: shlex.quote(json.dumps(config["datasets"][wc.task])),
        # A task defined in config: editing its definition reruns its data and, through them, its runs.
        definition=lambda wc: json.dumps(config["task_definitions"].get(wc.task, {}), sort_keys=True),
        env_kwargs=eval_env_kwargs,
        code=lambda wc: code("import_demos.py", task_module(wc.task)),
    shell:
        "python workflow/scripts/import_demos.py --task {wildcards.task} --source {params.source} "
        "--eval-env-kwargs {params.env_kwargs} --out {output.dataset} --summary {output.summary} > {log} 2>&1"


# Every task's dataset and summary, nothing downstream: `snakemake --cores 2 datasets` (with
# `--config demos=ship`, maintainers refresh the shipped datasets in envs/demonstrations/).
rule datasets:
    input:
        [dataset_summary(task) for task in config["tasks"]],
        [dataset_dir(task) for task in config["tasks"]],
