"""What this install can train on: `python -m methods.devices` prints the torch build, the GPUs visible
and the device `device: auto` picks (setup.sh runs it last). Exit status 0 either way: a CUDA build on a
login node sees no GPU, and its jobs find one on the compute nodes."""
from __future__ import annotations

import sys

import torch

from methods.core import select_device


def describe() -> str:
    cuda = torch.version.cuda
    lines = [f"torch {torch.__version__}: {'CUDA ' + cuda + ' build' if cuda else 'CPU build (no CUDA)'}"]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            lines.append(f"GPU {index}: {props.name}, {props.total_memory / 2**30:.0f} GiB, "
                         f"compute capability {props.major}.{props.minor}")
    elif cuda:
        lines.append("no GPU visible here (CUDA build installed: jobs use a GPU where one is visible)")
    lines.append(f"device: auto -> {select_device('auto')}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
    sys.exit(0)
