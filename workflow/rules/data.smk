# Expert demonstrations as local Minari datasets (never downloaded).


rule collect_demos:
    input:
        unpack(lambda wc: PLAN.expert_inputs(wc.task)),
        # With `demos: shipped`, the committed files of the task's shipped dataset where its card's recipe
        # is this run's: a change to them reruns the data stage.
        shipped=lambda wc: checked("", lambda: PLAN.shipped_demo_files(wc.task, wc.results)),
    output:
        dataset=directory("{results}/datasets/dbc/{task}/expert-v0"),
        summary="{results}/data/{task}.json",
    log:
        "{results}/logs/collect_demos/{task}.log",
    benchmark:
        "{results}/benchmarks/collect_demos/{task}.tsv"
    wildcard_constraints:
        task=tasks_pattern(PLAN.collected_tasks),
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        data=lambda wc: " ".join(f"--{key} {value}" for key, value in budget["data"][wc.task].items()),
        env_kwargs=env_kwargs,
        experts=lambda wc: PLAN.experts_dir_args(wc.task),
        demos=lambda wc: PLAN.demos_mode(wc.results),
        code=lambda wc: code("collect_demos.py", task_module(wc.task), module_file(envs.TASKS[wc.task].expert_module)),
    shell:
        "python workflow/scripts/collect_demos.py --task {wildcards.task} {params.data} "
        "--eval-env-kwargs {params.env_kwargs} --demos {params.demos} {params.experts} --out {output.dataset} "
        "--summary {output.summary} > {log} 2>&1"


# A user's own demonstrations (config key `datasets`), checked and written in the same layout.
rule import_demos:
    input:
        # The files of the imported dataset: a change to them reruns the data stage.
        lambda wc: [str(path) for path in PLAN.imported[wc.task].files],
    output:
        dataset=directory("{results}/datasets/dbc/{task}/expert-v0"),
        summary="{results}/data/{task}.json",
    log:
        "{results}/logs/import_demos/{task}.log",
    benchmark:
        "{results}/benchmarks/import_demos/{task}.tsv"
    wildcard_constraints:
        task=tasks_pattern(PLAN.imported),
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        source=lambda wc: quoted(config["datasets"][wc.task]),
        # A task defined in config: editing its definition reruns its data and, through them, its runs.
        job=job_args,
        env_kwargs=env_kwargs,
        code=lambda wc: code("import_demos.py", task_module(wc.task)),
    shell:
        "python workflow/scripts/import_demos.py --task {wildcards.task} --source {params.source} {params.job} "
        "--eval-env-kwargs {params.env_kwargs} --out {output.dataset} --summary {output.summary} > {log} 2>&1"


# Every task's dataset and summary, nothing downstream: `snakemake --cores 2 datasets` (with
# `--config demos=ship`, maintainers refresh the shipped datasets in envs/demonstrations/).
rule datasets:
    input:
        [PLAN.dataset_summary(task) for task in PLAN.tasks],
        [PLAN.dataset_dir(task) for task in PLAN.tasks],
