"""Diffusion Model-Augmented Behavioral Cloning (DBC), as the authors implemented it.

The policy is BC's Tanh MLP. A diffusion model of expert [s, a] pairs, pre-trained and frozen
(methods/diffusion.py, rule pretrain_dm), scores how expert-like the policy's pairs are: both
[s, a_hat] and [s, a] are noised with the SAME timesteps and noise, and
    L_DM = max(||eps - eps_phi([s, a_hat]_t, t)||^2 - ||eps - eps_phi([s, a]_t, t)||^2, 0)
(means over batch and dimensions). loss = lambda_BC * L_BC + lambda_DM * L_DM, and only the
policy is optimised. `normalize_dm_loss: false` drops the expert term (the authors' ablation).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dbc_bench.errors import BenchError
from dbc_bench.fields import option
from dbc_bench.io import load_checkpoint, load_state_checked, require_keys
from methods import bc
from methods.diffusion import Config as DMConfig
from methods.diffusion import DiffusionModel
from methods.registry import MethodSpec, Variant


@dataclass
class Config(bc.Config):
    lambda_bc: float = option(1.0, "weight of the BC loss", ge=0)
    lambda_dm: float = option(1.0, "weight of the diffusion-model loss", ge=0)
    normalize_dm_loss: bool = option(True, "subtract the expert's denoising loss (false: the ablation)")


class DBCPolicy(bc.Policy):
    def __init__(self, obs_dim: int, act_dim: int, cfg: Config, dm: DiffusionModel):
        super().__init__(obs_dim, act_dim, cfg.hidden)
        dm.requires_grad_(False).eval()
        # Held outside the module tree: never optimised, never saved with the policy.
        self._frozen = (dm,)
        self.lambda_bc, self.lambda_dm, self.normalize = cfg.lambda_bc, cfg.lambda_dm, cfg.normalize_dm_loss

    @property
    def dm(self) -> DiffusionModel:
        return self._frozen[0]

    def _apply(self, fn, *args, **kwargs):  # .to(device) moves the frozen model too
        super()._apply(fn, *args, **kwargs)
        self.dm._apply(fn)
        return self

    def dm_losses(self, obs: torch.Tensor, act: torch.Tensor, pred: torch.Tensor):
        """(agent, expert) losses of the frozen model: for the diffusion model, the denoising losses
        under shared timesteps and noise (each guidance model's `guidance`, methods/guidance.py)."""
        return self.dm.guidance(obs, act, pred)

    def loss(self, obs: torch.Tensor, act: torch.Tensor):
        pred = self.net(obs)
        bc_loss = F.mse_loss(pred, act)
        agent, expert = self.dm_losses(obs, act, pred)
        dm_loss = (agent - expert).clamp_min(0.0) if self.normalize else agent
        loss = self.lambda_bc * bc_loss + self.lambda_dm * dm_loss
        return loss, {"bc_loss": bc_loss.detach(), "dm_loss": dm_loss.detach(),
                      "dm_agent": agent.detach(), "dm_expert": expert}


def load_diffusion_model(path, obs_dim: int, act_dim: int, obs_norm=None, act_norm=None) -> DiffusionModel:
    """The pre-trained model; refuses one trained for other dimensions or another dataset."""
    ckpt = load_checkpoint(path)
    require_keys(ckpt, ("model", "config", "obs_mean", "act_mean"), path, "a diffusion-model checkpoint")
    model = DiffusionModel(obs_dim, act_dim, DMConfig(**ckpt["config"]))
    load_state_checked(model, ckpt["model"], str(path))
    check_data_statistics(path, ckpt, obs_norm, act_norm, "pretrain_dm")
    return model


def check_data_statistics(path, ckpt: dict, obs_norm, act_norm, rule: str) -> None:
    """A pre-trained model's checkpoint holds the means of the data it was trained on: refuse it for
    a dataset with other statistics."""
    for name, norm, saved in (("observation", obs_norm, ckpt["obs_mean"]), ("action", act_norm, ckpt["act_mean"])):
        if norm is not None and not torch.allclose(norm.mean.cpu(), saved, atol=1e-5):
            raw = [not bool(mean.abs().max() > 0) for mean in (norm.mean.cpu(), saved)]
            if raw[0] != raw[1]:  # one z-scores the data and the other does not: the configs disagree
                raise BenchError(f"{path}: trained with normalize: {str(not raw[1]).lower()}, this policy uses "
                                 f"normalize: {str(not raw[0]).lower()}; set the same in both configs")
            raise BenchError(f"{path}: trained on other {name} statistics than this dataset; "
                             f"rerun {rule} on the current data")


def build(cfg: Config, obs_dim: int, act_dim: int, context: dict | None = None) -> DBCPolicy:
    context = context or {}
    if "diffusion_model" not in context:
        raise BenchError("dbc needs a pre-trained diffusion model (context 'diffusion_model': path)")
    dm = load_diffusion_model(context["diffusion_model"], obs_dim, act_dim,
                              context.get("obs_norm"), context.get("act_norm"))
    return DBCPolicy(obs_dim, act_dim, cfg, dm)


METHOD = MethodSpec(
    name="dbc", label="DBC", config=Config, build=build, needs=("diffusion_model",), config_base="bc", rank=1,
    # The authors' ablation: L_DM = the agent's denoising loss, without subtracting the expert's.
    variants=(Variant("dbc_nonorm", "DBC w/o normalisation", {"normalize_dm_loss": False}, rank=6),
              # The generative-model ablation's diffusion row without the BC loss (methods/guidance.py).
              Variant("dbc_nobc", "DM w/o BC loss", {"lambda_bc": 0.0}, rank=27)),
)
