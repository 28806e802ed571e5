"""Which of the suite's numerical workloads change bits with the CPU kernels the libraries choose: a
research tool behind dbc_bench.kernels and its test, not part of the DAG.

Prints one JSON object: a sha256 prefix per workload, plus the kernel settings in effect.
- ``openblas_matmul``: a float64 matmul through numpy (OpenBLAS);
- ``numpy_exp_log``: numpy's float64 exp and log loops;
- ``torch_transcendentals``: torch's float32 tanh, exp and a long sum (ATen's vector kernels);
- ``torch_mlp_training``: 200 Adam updates of a BC-sized MLP (MKL's GEMMs, forward and backward);
- ``walker_expert_rollout``: the shipped walker expert's 1000-step rollout (MKL's small GEMMs, MuJoCo).

Compare settings by environment, e.g. on a machine with AVX-512:
    DBC_KERNELS=native OPENBLAS_CORETYPE=SkylakeX python tools/kernel_probe.py
    DBC_KERNELS=native OPENBLAS_CORETYPE=Haswell  python tools/kernel_probe.py   # differs
    OPENBLAS_CORETYPE=SkylakeX python tools/kernel_probe.py                     # pinned: as the next
    OPENBLAS_CORETYPE=Haswell  python tools/kernel_probe.py
"""
from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import torch

from dbc_bench import kernels
from dbc_bench.errors import run_stage
from dbc_bench.nets import mlp


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(np.asarray(array)).tobytes())
    return h.hexdigest()[:16]


def workloads() -> dict[str, str]:
    import envs
    from envs.experts.rl import load_rl_expert

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((200, 300)), rng.standard_normal((300, 100))
    x = rng.standard_normal(100_001)
    out = {"openblas_matmul": digest(a @ b), "numpy_exp_log": digest(np.exp(x), np.log(np.abs(x) + 1.0))}

    gen = torch.Generator().manual_seed(0)
    t = torch.randn(100_003, generator=gen)
    out["torch_transcendentals"] = digest(torch.tanh(t).numpy(), torch.exp(t).numpy(), t.sum().numpy())

    torch.manual_seed(0)
    net = mlp(17, [256, 256, 256], 6, torch.nn.ReLU)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    inputs = torch.randn(4096, 17, generator=gen)
    targets = torch.tanh(2.0 * inputs[:, :6] + inputs[:, 6:12])
    for _ in range(200):
        index = torch.randint(0, 4096, (128,), generator=gen)
        loss = ((net(inputs[index]) - targets[index]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out["torch_mlp_training"] = digest(*(p.detach().numpy() for p in net.parameters()))

    env = envs.get_task("walker").make()
    expert = load_rl_expert("walker", env)  # mean actions: the policy's forward pass alone
    obs, _ = env.reset(seed=5)
    expert.reset(obs)
    rewards = []
    for _ in range(1000):
        obs, reward, terminated, truncated, _ = env.step(expert.act(obs))
        rewards.append(reward)
        if terminated or truncated:
            break
    env.close()
    out["walker_expert_rollout"] = digest(obs, np.asarray(rewards))
    return out


def main() -> int:
    def stage() -> None:
        torch.set_num_threads(1)
        print(json.dumps({"kernels": kernels.settings(), "digests": workloads()}))

    return run_stage(stage)


if __name__ == "__main__":
    sys.exit(main())
