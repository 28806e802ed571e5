# A new machine or cluster, first: `snakemake --cores 2 verify` regenerates the datasets of a few
# committed runs and reruns them with the same rules, under results/verify/<budget>/, then prints per
# run "bit-identical" or the largest difference and whether the score lies inside the committed run's
# 95% CI. Delete results/verify/ to run it again.


rule verify:
    input:
        runs=final_evals(PLAN.verify_runs, VERIFY_RESULTS),
        datasets=[PLAN.dataset_summary(t, VERIFY_RESULTS) for t in dict.fromkeys(t for t, _, _ in PLAN.verify_runs)],
    output:
        report=f"{VERIFY_RESULTS}/verify.md",
        data=f"{VERIFY_RESULTS}/verify.json",
    log:
        f"{VERIFY_RESULTS}/logs/verify.log",
    benchmark:
        f"{VERIFY_RESULTS}/benchmarks/verify.tsv"
    conda:
        SOFTWARE
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        tasks=list(dict.fromkeys(t for t, _, _ in PLAN.verify_runs)),
        runs=[shlex.quote(run) for run in config["verify"]["runs"]],
        reps=budget["report"]["bootstrap_reps"],
        seed=config["report"]["seed"],
        committed=COMMITTED_RESULTS,
        rerun=lambda wc, output: Path(output.report).parent,
        code=code("verify.py"),
    shell:
        "python workflow/scripts/verify.py --committed {params.committed} --rerun {params.rerun} --tasks {params.tasks} "
        "--runs {params.runs} --reps {params.reps} --seed {params.seed} --out {output.report} > {log} 2>&1 "
        "&& cat {output.report}"
