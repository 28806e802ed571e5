"""Pinned CPU kernels (dbc_bench.kernels): the same bits whichever SIMD level the libraries would pick."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT

from dbc_bench import kernels

# What a machine's SIMD level decides, per library: forced here to simulate an AVX-512 and an AVX2 machine.
FORCED = {
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "OPENBLAS_CORETYPE": "SkylakeX", "MKL_ENABLE_INSTRUCTIONS": "AVX512",
               "ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "NPY_DISABLE_CPU_FEATURES": ""},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "OPENBLAS_CORETYPE": "Haswell", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "ONEDNN_MAX_CPU_ISA": "AVX2", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"},
}


def probe(mode: str, level: str) -> dict:
    env = {**os.environ, **FORCED[level], kernels.MODE_VARIABLE: mode, "PYTHONPATH": str(ROOT)}  # the pin is env
    proc = subprocess.run([sys.executable, "tools/kernel_probe.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_tests_run_pinned():
    assert kernels.effective()
    for key, value in kernels.PINNED.items():
        assert os.environ[key] == value  # the pin acts through the environment (dbc_bench.kernels)
    assert torch.backends.cpu.get_cpu_capability() == "AVX2"
    features = np._core._multiarray_umath.__cpu_features__
    assert not features.get("X86_V4", False) and not features.get("AVX512_ICL", False)  # dispatch targets off


AVX512 = "avx512f" in open("/proc/cpuinfo").read()


@pytest.mark.skipif(not AVX512, reason="needs a CPU with AVX-512 to force both levels")
def test_forced_simd_levels_differ_unpinned_and_agree_pinned():
    native = {level: probe("native", level) for level in FORCED}
    pinned = {level: probe("pinned", level) for level in FORCED}
    differing = [w for w, d in native["avx512"]["digests"].items() if d != native["avx2"]["digests"][w]]
    # Measured: OpenBLAS's matmul and numpy's exp/log loops differ between the two levels.
    assert {"openblas_matmul", "numpy_exp_log"} <= set(differing), differing
    assert pinned["avx512"]["digests"] == pinned["avx2"]["digests"]
    # The probe imports numpy before dbc_bench: it restarted itself to load its libraries pinned.
    assert pinned["avx512"]["kernels"]["torch_cpu_capability"] == "AVX2"
    assert native["avx512"]["kernels"]["torch_cpu_capability"] == "AVX512"


def test_a_mode_typo_is_one_line():
    env = {**os.environ, kernels.MODE_VARIABLE: "pined"}  # the kernel mode is read from the environment
    proc = subprocess.run([sys.executable, "-c", "import dbc_bench"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip() == "error: DBC_KERNELS='pined': choose from pinned, native"
