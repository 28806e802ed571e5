# Speed benchmark (not part of `all`):  snakemake --cores 2 bench


rule bench:
    output:
        table="results/benchmark/benchmark.md",
        data="results/benchmark/benchmark.json",
    params:
        out_dir=lambda wc, output: Path(output.table).parent,
    log:
        "results/benchmark/benchmark.log",
    benchmark:
        "results/benchmark/benchmark.tsv"
    # Measures one thread, but claims every core so no other job disturbs the timings.
    threads: workflow.cores
    resources:
        runtime=60,
        mem_mb=8000,
    conda:
        SOFTWARE
    shell:
        "python workflow/scripts/benchmark.py --out {params.out_dir} > {log} 2>&1"
