# RL experts (hand_rotate, walker, cheetah, ant_reach), retrained from scratch by their recipe in
# config/experts/ (the shipped ones in envs/experts/ were made by the same script and recipes; config
# `expert_recipes` picks another, e.g. hand_rotate's DDPG+HER). Outputs go to results/experts/<task>/, never over the
# shipped files, and do not depend on the budget: an expert is the same for every budget.
# Not part of the default targets: the data rule asks for these files only with `experts: retrained`.


rule train_expert:
    input:
        config=lambda wc: PLAN.expert_recipe(wc.expert_task),
    output:
        weights="results/experts/{expert_task}/{expert_task}.pt",
        card="results/experts/{expert_task}/{expert_task}.json",
        curve="results/experts/{expert_task}/{expert_task}_curve.csv",
    log:
        "results/experts/logs/{expert_task}.log",
    benchmark:
        "results/experts/benchmarks/{expert_task}.tsv"
    wildcard_constraints:
        expert_task="|".join(PLAN.rl_expert_tasks),
    conda:
        SOFTWARE
    threads: 1
    resources:
        # The config's training limit (max_wall_minutes) plus 30 minutes for the final measurement.
        runtime=lambda wc, input: 30 + (plan.read_yaml(input.config).get("max_wall_minutes") or 600),
        mem_mb=4000,
    params:
        out_dir=lambda wc: plan.retrained_expert_dir(wc.expert_task),
        code=lambda wc: code("train_expert.py", task_module(wc.expert_task)),
    shell:
        "python workflow/scripts/train_expert.py --task {wildcards.expert_task} --config {input.config} "
        "--out-dir {params.out_dir} --threads {threads} > {log} 2>&1"
