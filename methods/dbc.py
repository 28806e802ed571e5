"""Diffusion Model-Augmented Behavioral Cloning (DBC), as the authors implemented it.

The policy is BC's Tanh MLP. A diffusion model of expert [s, a] pairs, pre-trained and frozen
(methods/diffusion.py, rule pretrain_dm), scores how expert-like the policy's pairs are: both
[s, a_hat] and [s, a] are noised with the SAME timesteps and noise, and
    L_DM = max(||eps - eps_phi([s, a_hat]_t, t)||^2 - ||eps - eps_phi([s, a]_t, t)||^2, 0)
(means over batch and dimensions). loss = lambda_BC * L_BC + lambda_DM * L_DM, and only the
policy is optimised. `normalize_dm_loss: false` drops the expert term (the authors' ablation).

Whether the term acts is measured in every training update, not sampled: the share of updates whose
L_DM is above 0, its mean, and its share of the gradient norm at the policy's actions,
||g_DM|| / (||g_BC|| + ||g_DM||) with g = d(lambda L)/d a_hat, which reaches every policy weight
through the same Jacobian. A hook reads the loss's gradient at a_hat during the update's own backward
pass; g_BC has a closed form and g_DM is the rest, so counting costs no extra pass.
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


# The training log's running means over the updates so far (term_sums[index] / term_sums[0]).
TERM_MEANS = {1: "dm_active_frac", 2: "dm_term_mean", 3: "dm_grad_share"}


class RunningMean:
    """One of the term's running means, divided out only when a log row reads it (float()): no work per update."""

    def __init__(self, sums: torch.Tensor, index: int):
        self.sums, self.index = sums, index

    def __float__(self) -> float:
        count, total = (float(x) for x in self.sums[[0, self.index]].cpu())
        return total / max(count, 1.0)


class DBCPolicy(bc.Policy):
    def __init__(self, obs_dim: int, act_dim: int, cfg: Config, dm: DiffusionModel):
        super().__init__(obs_dim, act_dim, cfg.hidden)
        dm.requires_grad_(False).eval()
        # Held outside the module tree: never optimised, never saved with the policy.
        self._frozen = (dm,)
        self.lambda_bc, self.lambda_dm, self.normalize = cfg.lambda_bc, cfg.lambda_dm, cfg.normalize_dm_loss
        # Sums over the training updates so far: updates, updates with L_DM > 0, L_DM, the term's share of
        # the gradient norm. A buffer, so the resumable state carries it; kept on the device (no sync per update).
        self.register_buffer("term_sums", torch.zeros(4, dtype=torch.float64))

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
        if self.training and pred.requires_grad:  # a training update: count it as its gradient passes
            pred.register_hook(self._counter(pred.detach(), act, dm_loss.detach()))
        return loss, {"bc_loss": bc_loss.detach(), "dm_loss": dm_loss.detach(),
                      "dm_agent": agent.detach(), "dm_expert": expert.detach(),
                      **{name: RunningMean(self.term_sums, index) for index, name in TERM_MEANS.items()}}

    def _counter(self, pred: torch.Tensor, act: torch.Tensor, dm_loss: torch.Tensor):
        """A hook on the policy's actions: from the loss's gradient there, g = g_BC + g_DM, with g_BC in closed
        form (the MSE's 2 lambda_BC (a_hat - a) / numel), add this update to the sums (no extra backward)."""
        def count(grad: torch.Tensor) -> None:
            with torch.no_grad():
                active = dm_loss > 0
                g_bc = (2.0 * self.lambda_bc / pred.numel()) * (pred - act)
                norm_bc, norm_dm = g_bc.norm().double(), ((grad - g_bc).norm() * active).double()
                share = norm_dm / (norm_bc + norm_dm).clamp_min(torch.finfo(torch.float64).tiny)
                self.term_sums += torch.stack([torch.ones_like(share), active.double(), dm_loss.double(), share])

        return count

    def training_record(self) -> dict:
        """For run.json: the term over every training update of the run."""
        updates, active, term, share = (float(x) for x in self.term_sums.cpu())
        per = max(updates, 1.0)
        return {"dm_term": {"updates": int(updates), "active_updates": int(active), "active_fraction": active / per,
                            "mean": term / per, "grad_share_mean": share / per}}


def load_diffusion_model(path, obs_dim: int, act_dim: int, obs_norm=None, act_norm=None,
                         inputs: str = "state_action") -> DiffusionModel:
    """The pre-trained model; refuses one trained for other dimensions, another dataset, or other inputs
    (a model of [s, a] for DBC; of the actions alone for dbc_action_dm)."""
    ckpt = load_checkpoint(path)
    require_keys(ckpt, ("model", "config", "obs_mean", "act_mean"), path, "a diffusion-model checkpoint")
    cfg = DMConfig(**ckpt["config"])
    if cfg.inputs != inputs:
        raise BenchError(f"{path}: a diffusion model with inputs: {cfg.inputs}, where this method needs "
                         f"inputs: {inputs}")
    model = DiffusionModel(obs_dim, act_dim, cfg)
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
