# RL experts for walker and hand_rotate, retrained from scratch (the shipped ones in envs/experts/
# were made by the same script and config). Outputs go to results/experts/<task>/, never over the
# shipped files, and do not depend on the budget: an expert is the same for every budget.
# Not part of the default targets: the data rule asks for these files only with `experts: retrained`.

RL_EXPERT_TASKS = ["walker", "hand_rotate"]


def retrained_expert_dir(task):
    return f"results/experts/{task}"


def expert_source():
    """'shipped' (envs/experts/, the default) or 'retrained' (this file's train_expert outputs)."""
    source = config.get("experts", "shipped")
    if source not in ("shipped", "retrained"):
        raise ValueError(f"config 'experts' is '{source}'; choose 'shipped' or 'retrained'")
    return source


def expert_inputs(wildcards):
    """For collect_demos' input: the RL expert file its task's demonstrations come from."""
    task = wildcards.task
    if task not in RL_EXPERT_TASKS:
        return {}
    if expert_source() == "retrained":
        return {"expert": f"{retrained_expert_dir(task)}/{task}.pt"}
    return {"expert": f"envs/experts/{task}.pt"}


def expert_env(wildcards):
    """Shell prefix for collect_demos: point the expert loader at the retrained file's folder."""
    if wildcards.task in RL_EXPERT_TASKS and expert_source() == "retrained":
        return f"DBC_EXPERTS_DIR={retrained_expert_dir(wildcards.task)} "
    return ""


rule train_expert:
    output:
        weights="results/experts/{expert_task}/{expert_task}.pt",
        card="results/experts/{expert_task}/{expert_task}.json",
        curve="results/experts/{expert_task}/{expert_task}_curve.csv",
    input:
        config="config/experts/{expert_task}.yaml",
    params:
        out_dir=lambda wc: retrained_expert_dir(wc.expert_task),
    wildcard_constraints:
        expert_task="|".join(RL_EXPERT_TASKS),
    log:
        "results/experts/logs/{expert_task}.log",
    benchmark:
        "results/experts/benchmarks/{expert_task}.tsv"
    threads: 1
    conda:
        SOFTWARE
    resources:
        # The configs' max_wall_minutes (85 walker, 100 hand_rotate) plus the final measurement.
        runtime=lambda wc: {"walker": 110, "hand_rotate": 130}[wc.expert_task],
        mem_mb=lambda wc: {"walker": 2000, "hand_rotate": 4000}[wc.expert_task],
    shell:
        "python workflow/scripts/train_expert.py --task {wildcards.expert_task} --config {input.config} "
        "--out-dir {params.out_dir} --threads {threads} > {log} 2>&1"
