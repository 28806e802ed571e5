"""DBC guided by a diffusion model of the expert actions alone, p(a), instead of the states and actions
p(s, a): the paper's third open check (does the model need the state to guide?).

Everything else is DBC's (methods/dbc.py): the loss, the hinge on batch means, the shared timesteps and
noise, the frozen model, the config (config_base dbc). The model is the pre-training stage
`action_diffusion_model` (methods/diffusion.py): DBC's diffusion model with `inputs: action`, trained by
the same loop on the same expert data with the same resolved size and schedule.
"""
from __future__ import annotations

from dbc_bench.errors import BenchError
from methods import dbc
from methods.registry import MethodSpec

NEED = "action_diffusion_model"


def build(cfg: dbc.Config, obs_dim: int, act_dim: int, context: dict | None = None) -> dbc.DBCPolicy:
    context = context or {}
    if NEED not in context:
        raise BenchError(f"dbc_action_dm needs a pre-trained action-only diffusion model (context '{NEED}': path)")
    dm = dbc.load_diffusion_model(context[NEED], obs_dim, act_dim, context.get("obs_norm"), context.get("act_norm"),
                                  inputs="action")
    return dbc.DBCPolicy(obs_dim, act_dim, cfg, dm)


METHOD = MethodSpec(name="dbc_action_dm", label="DBC (action-only DM)", config=dbc.Config, build=build,
                    needs=(NEED,), config_base="dbc", rank=7)
