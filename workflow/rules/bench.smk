# Speed benchmark (not part of `all`):  snakemake --cores 2 bench
rule bench:
    output:
        table="results/benchmark/benchmark.md",
        data="results/benchmark/benchmark.json",
    log:
        "results/benchmark/benchmark.log",
    benchmark:
        "results/benchmark/benchmark.tsv"
    conda:
        SOFTWARE
    threads: bench_threads
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        out_dir=lambda wc, output: Path(output.table).parent,
        code=code("benchmark.py"),
    shell:
        "python workflow/scripts/benchmark.py --out {params.out_dir} > {log} 2>&1"
