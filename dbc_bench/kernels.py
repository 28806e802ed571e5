"""One set of CPU kernels on every x86-64 machine, so that CPU results are bit-identical across them.

MKL, OpenBLAS, numpy, ATen and oneDNN each choose SIMD kernels for the CPU they find at run time,
and kernels of different vector widths sum in a different order. Measured on an AMD EPYC with
AVX-512 (tests/test_kernels.py repeats it):

- OpenBLAS (numpy's BLAS) runs its SkylakeX (AVX-512) kernels there and Haswell (AVX2) kernels on an
  AVX2 machine: a float64 matmul differs in its last bits.
- numpy's AVX-512 loops (``X86_V4``) of float64 ``exp`` and ``log`` differ from its AVX2 loops.
- MKL (torch's BLAS) left to itself takes a per-CPU path that differs from its AVX2 path: the
  shipped walker expert's 1000-step rollout returns 5471.249 against 5470.194 with ``MKL_CBWR`` set.
  On Intel CPUs it takes AVX-512 kernels; on AMD it never does, so the Intel/AMD difference the
  committed results showed cannot be forced on one machine, only pinned away. On an Intel Xeon with
  AVX-512, ``MKL_ENABLE_INSTRUCTIONS=AVX512`` in the environment beat ``MKL_CBWR=AVX2,STRICT``: it is
  pinned as well.
- ATen's and oneDNN's AVX2 and AVX-512 kernels gave the same bits on every probe; they are pinned
  too, because nothing promises that.

Pinning every library to its AVX2 kernels (the widest that every x86-64 machine of the last ten years
has) gives the same kernels everywhere. ``apply()`` sets the variables below before any of those
libraries loads; every entry point imports ``dbc_bench`` first, the Snakefile passes them to every job,
and a stage whose libraries were loaded before the pin re-executes itself (``ensure_effective``).
``DBC_KERNELS=native`` leaves the libraries to choose (faster on some CPUs; bits then differ across
machines). Results also depend on the number of torch threads (``train_threads``): the same config
gives the same bits only at the same thread count.
"""
from __future__ import annotations

import os
import sys

MODE_VARIABLE = "DBC_KERNELS"
MODES = ("pinned", "native")

PINNED: dict[str, str] = {
    "MKL_CBWR": "AVX2,STRICT",  # MKL's conditional numerical reproducibility: its AVX2 path, any alignment
    # On an Intel AVX-512 CPU a MKL_ENABLE_INSTRUCTIONS=AVX512 in the environment overrides MKL_CBWR (measured:
    # torch's transcendentals and MLP training then take other bits), so it is pinned too.
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS's AVX2 kernels
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy: no AVX-512 loops
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorised kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (torch's mkldnn backend)
}
# Libraries that read the variables when they load.
_READERS = ("numpy", "torch", "scipy")

_loaded_before_pin: list[str] = []


def mode(environ=os.environ) -> str:
    value = environ.get(MODE_VARIABLE, "pinned") or "pinned"
    if value not in MODES:
        # dbc_bench.errors imports nothing heavy, but keep this module dependency-free.
        raise SystemExit(f"error: {MODE_VARIABLE}={value!r}: choose from {', '.join(MODES)}")
    return value


def apply(environ=os.environ) -> None:
    """Set the pinned kernel variables in `environ` (overriding what was there) unless native."""
    if mode(environ) != "pinned":
        return
    if environ is os.environ:
        _loaded_before_pin[:] = [name for name in _READERS
                                 if name in sys.modules and any(os.environ.get(k) != v for k, v in PINNED.items())]
    environ.update(PINNED)


def effective() -> bool:
    """Whether this process's libraries loaded under the pin (or no pin was asked for)."""
    return mode() == "native" or not _loaded_before_pin


def ensure_effective() -> None:
    """Re-execute this process if numpy/torch loaded before the pin: their kernels are chosen then."""
    if effective():
        return
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def settings() -> dict:
    """What a result's provenance records: the mode, the variables and torch's kernel level (the thread
    count is recorded beside it by each job)."""
    out: dict = {"mode": mode(), **{key: os.environ.get(key) for key in PINNED}}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return out
