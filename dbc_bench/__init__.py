"""The layer below the suite's packages: what tasks (`envs`), methods (`methods`), the analysis
(`analysis`) and the benchmark (`benchmarks`) all need, and nothing that imports them.

- `errors`: the one user-facing error type and the exit convention of every stage;
- `io`: the one atomic writer family (text, JSON, CSV, torch, figures) and weights-only loading;
- `seeds`: every seed range the suite draws episodes and environments from;
- `fields`: declarative, documented config fields and their validation;
- `codehash`: a fingerprint of the code a job runs, so that editing it reruns the job;
- `kernels`: one set of CPU kernels on every machine, pinned here, on first import;
- `checkout`: a job imports the code of its own checkout, checked here, on first import.
"""
from dbc_bench import checkout as _checkout
from dbc_bench import kernels as _kernels

# Before any other code of the suite runs: a job must not run another checkout's code.
_checkout.check()

# Before numpy, torch or a BLAS loads: they choose their kernels once, when they load.
_kernels.apply()
