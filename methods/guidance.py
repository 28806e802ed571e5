"""The generative-model ablation: DBC guided by an energy-based model, a VAE or a GAN of the expert
[s, a] pairs instead of the diffusion model (the paper's Maze table, with and without the BC loss).

The authors' code for these models is not public. Each is the simplest design faithful to the
paper's description, and to DBC's own term:
- guidance = the model's own training loss on the agent's pair [s, a_hat] minus the same loss, with the
  same randomness, on the expert's pair [s, a], clamped at 0; gradients reach the policy only (the
  model is frozen, the expert term a constant);
- networks of the diffusion model's size: three hidden layers of `width` units, ReLU (the DM's
  eps-network without its timestep embeddings), pre-trained on the same pairs, z-scored, by the same
  loop, schedule and epochs (config/guidance_model/<task>.yaml, rules pretrain_ebm, pretrain_vae, pretrain_gan).

The models:
- `ebm`: an energy E(s, a) trained by InfoNCE as Implicit BC is: the expert action against
  `counter_examples` actions drawn uniformly from a box; its loss on a pair is -log softmax(-E) of the
  pair among the same counter-examples. The box is the expert actions' per-dimension [min, max] widened
  by 5% of the span (`action_box: data`, Implicit BC's original sampling bounds), fixed at
  pre-training and saved with the model. The counter-examples must cover the expert actions: on
  maze, 76% of the z-scored expert pairs have an entry beyond +-1, and an EBM trained with the
  unit box (`action_box: unit`) learned "outside the box is low energy" (loss 0.07 on those pairs,
  chance, 3.97, on the rest), which its guidance then pushed the policy towards.
- `vae`: encoder [s, a] -> Gaussian latent (`latent` dims), decoder latent -> [s, a]; loss = the negative
  ELBO with a unit-variance Gaussian decoder, 0.5 ||x - x_hat||^2 + `kl_weight` * KL(q || N(0, I)), the
  latent drawn with shared noise.
- `gan`: generator noise -> [s, a], discriminator [s, a] -> logit, non-saturating losses, trained
  together by one Adam (the generator's loss sees the discriminator's weights detached); the
  discriminator's loss on a pair as a real one, softplus(-D([s, a])), is the guidance.
Each registers as a method (`dbc_ebm`, `dbc_vae`, `dbc_gan`) with a variant without the BC loss
(`*_nobc`, lambda_BC = 0), beside DBC's own `dbc` and `dbc_nobc`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from dbc_bench.errors import BenchError
from dbc_bench.fields import option
from dbc_bench.io import load_checkpoint, load_state_checked, require_keys
from dbc_bench.nets import mlp
from methods import dbc
from methods.core import Demonstrations, load_demonstrations
from methods.ibc import BOX_BUFFER
from methods.registry import MethodSpec, StageSpec, Variant
from methods.train import TrainConfig

KINDS = ("ebm", "vae", "gan")


@dataclass
class Config(TrainConfig):
    """Pre-training settings of the guidance models (config/guidance_model/<task>.yaml)."""

    kind: str = option("ebm", "the model: ebm, vae or gan (set by its pre-training stage)", choices=KINDS)
    width: int = option(128, "hidden width of every network (three hidden layers, as the DM's)", gt=0)
    holdout_fraction: float = option(0.05, "pairs kept out of training for a held-out loss", ge=0, le=0.49)
    counter_examples: int = option(64, "ebm: uniform counter-example actions per pair", gt=0)
    action_box: str = option("data", "ebm: counter-examples' box: data (the expert actions' [min, max] + 5%) or "
                             "unit (+-1 per z-scored action dimension)", choices=("data", "unit"))
    latent: int = option(8, "vae, gan: latent dimensions", gt=0)
    kl_weight: float = option(1.0, "vae: weight of the KL term", ge=0)


def _net(inputs: int, width: int, outputs: int) -> nn.Module:
    return mlp(inputs, [width, width, width], outputs, nn.ReLU)


class GuidanceModel(nn.Module):
    """What a guidance model offers: `loss` for pre-training (methods.train.fit), `pair_loss` per
    pair given shared randomness, `guidance` for DBC, and a held-out loss for its curve."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: Config):
        super().__init__()
        self.obs_dim, self.act_dim, self.cfg = obs_dim, act_dim, cfg

    def randomness(self, batch: int, device: torch.device, generator: torch.Generator | None = None):
        raise NotImplementedError

    def pair_loss(self, obs: torch.Tensor, act: torch.Tensor, randomness) -> torch.Tensor:
        """The model's own loss of each pair, [batch]."""
        raise NotImplementedError

    def prepare(self, data: Demonstrations) -> None:
        """Before pre-training (see `pretrain`): what the model takes from the whole dataset (by default nothing)."""

    def loss(self, obs: torch.Tensor, act: torch.Tensor):
        loss = self.pair_loss(obs, act, self.randomness(obs.shape[0], obs.device)).mean()
        return loss, {}

    def guidance(self, obs: torch.Tensor, act: torch.Tensor, pred: torch.Tensor):
        """(agent, expert): the pair losses of [s, a_hat] and [s, a] under the same randomness."""
        shared = self.randomness(obs.shape[0], obs.device)
        with torch.no_grad():
            expert = self.pair_loss(obs, act, shared).mean()
        return self.pair_loss(obs, pred, shared).mean(), expert

    @torch.no_grad()
    def heldout_loss(self, obs: torch.Tensor, act: torch.Tensor, repeats: int = 4, seed: int = 0) -> float:
        if len(obs) == 0:
            return float("nan")
        generator = torch.Generator(device=obs.device).manual_seed(seed)
        return sum(self.pair_loss(obs, act, self.randomness(obs.shape[0], obs.device, generator)).mean().item()
                   for _ in range(repeats)) / repeats


class EnergyModel(GuidanceModel):
    def __init__(self, obs_dim: int, act_dim: int, cfg: Config):
        super().__init__(obs_dim, act_dim, cfg)
        self.energy = _net(obs_dim + act_dim, cfg.width, 1)
        # The expert actions' bounds (empty until `prepare`; saved with the model).
        self.register_buffer("act_min", torch.full((act_dim,), float("inf")))
        self.register_buffer("act_max", torch.full((act_dim,), float("-inf")))

    @torch.no_grad()
    def prepare(self, data):
        self.act_min.copy_(data.act.min(0).values)
        self.act_max.copy_(data.act.max(0).values)

    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.action_box == "unit":
            return -torch.ones_like(self.act_min), torch.ones_like(self.act_max)
        if not bool((self.act_min <= self.act_max).all()):
            raise BenchError("the EBM has no action box yet: pre-train it (rule pretrain_ebm) or load it")
        pad = BOX_BUFFER * (self.act_max - self.act_min)
        return self.act_min - pad, self.act_max + pad

    def randomness(self, batch, device, generator=None):
        low, high = self.box()
        unit = torch.rand(batch, self.cfg.counter_examples, self.act_dim, device=device, generator=generator)
        return low + (high - low) * unit

    def pair_loss(self, obs, act, counter):
        actions = torch.cat([act[:, None], counter], dim=1)  # [batch, 1 + K, act]; the pair first
        states = obs[:, None].expand(-1, actions.shape[1], -1)
        logits = -self.energy(torch.cat([states, actions], dim=-1)).squeeze(-1)
        return -F.log_softmax(logits, dim=1)[:, 0]


class VAEModel(GuidanceModel):
    def __init__(self, obs_dim: int, act_dim: int, cfg: Config):
        super().__init__(obs_dim, act_dim, cfg)
        self.encoder = _net(obs_dim + act_dim, cfg.width, 2 * cfg.latent)
        self.decoder = _net(cfg.latent, cfg.width, obs_dim + act_dim)

    def randomness(self, batch, device, generator=None):
        return torch.randn(batch, self.cfg.latent, device=device, generator=generator)

    def pair_loss(self, obs, act, eps):
        x = torch.cat([obs, act], dim=1)
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        z = mean + (0.5 * log_var).exp() * eps
        reconstruction = 0.5 * (self.decoder(z) - x).pow(2).sum(dim=1)  # -log N(x; decoder(z), I), up to a constant
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(dim=1)
        return reconstruction + self.cfg.kl_weight * kl


class GANModel(GuidanceModel):
    def __init__(self, obs_dim: int, act_dim: int, cfg: Config):
        super().__init__(obs_dim, act_dim, cfg)
        self.generator = _net(cfg.latent, cfg.width, obs_dim + act_dim)
        self.discriminator = _net(obs_dim + act_dim, cfg.width, 1)

    def randomness(self, batch, device, generator=None):
        return None  # the discriminator's loss of a pair is deterministic

    def pair_loss(self, obs, act, _):
        return F.softplus(-self.discriminator(torch.cat([obs, act], dim=1)).squeeze(-1))

    def loss(self, obs, act):
        real = torch.cat([obs, act], dim=1)
        fake = self.generator(torch.randn(real.shape[0], self.cfg.latent, device=real.device))
        d_real, d_fake = self.discriminator(real), self.discriminator(fake.detach())
        d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
        g_loss = F.softplus(-functional_call(self.discriminator, frozen, (fake,))).mean()
        return d_loss + g_loss, {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


MODELS = {"ebm": EnergyModel, "vae": VAEModel, "gan": GANModel}


def load_guidance_model(path, kind: str, obs_dim: int, act_dim: int, obs_norm=None, act_norm=None) -> GuidanceModel:
    """A pre-trained guidance model (rule pretrain_<kind>); refuses another kind, other dimensions
    or another dataset's statistics."""
    ckpt = load_checkpoint(path)
    require_keys(ckpt, ("model", "config", "obs_mean", "act_mean"), path, "a guidance-model checkpoint")
    if ckpt["config"].get("kind") != kind:
        raise BenchError(f"{path}: a '{ckpt['config'].get('kind')}' model, not the '{kind}' this method needs")
    model = MODELS[kind](obs_dim, act_dim, Config(**ckpt["config"]))
    load_state_checked(model, ckpt["model"], str(path))
    dbc.check_data_statistics(path, ckpt, obs_norm, act_norm, f"pretrain_{kind}")
    return model


def _builder(kind: str):
    def build(cfg: dbc.Config, obs_dim: int, act_dim: int, context: dict | None = None) -> dbc.DBCPolicy:
        need = f"{kind}_model"
        if need not in (context or {}):
            raise BenchError(f"dbc_{kind} needs a pre-trained {kind} model (context '{need}': path)")
        model = load_guidance_model(context[need], kind, obs_dim, act_dim, context.get("obs_norm"),
                                    context.get("act_norm"))
        return dbc.DBCPolicy(obs_dim, act_dim, cfg, model)

    return build


LABELS = {"ebm": "EBM", "vae": "VAE", "gan": "GAN"}
METHODS = tuple(
    MethodSpec(name=f"dbc_{kind}", label=f"DBC ({LABELS[kind]})", config=dbc.Config, build=_builder(kind),
               needs=(f"{kind}_model",), config_base="dbc", rank=20 + 2 * i,
               variants=(Variant(f"dbc_{kind}_nobc", f"{LABELS[kind]} w/o BC loss", {"lambda_bc": 0.0},
                                 rank=21 + 2 * i),))
    for i, kind in enumerate(KINDS)
)


def pretrain(task_name: str, hyperparameters: dict, dataset, out_dir, **kwargs) -> None:
    """Pre-train one guidance model (its kind in the hyperparameters) exactly as the diffusion model is
    pre-trained (methods.diffusion.pretrain: same loop, held-out curve and files)."""
    from methods.diffusion import pretrain as pretrain_model

    kind = hyperparameters.get("kind")
    if kind not in MODELS:
        raise BenchError(f"guidance model kind {kind!r}: choose from {', '.join(KINDS)}")

    def prepared_model(obs_dim: int, act_dim: int, cfg: Config) -> GuidanceModel:
        model = MODELS[kind](obs_dim, act_dim, cfg)
        model.prepare(load_demonstrations(dataset, obs_dim, act_dim, normalize=cfg.normalize))
        return model

    pretrain_model(task_name, hyperparameters, dataset, out_dir, model_class=prepared_model, config_class=Config,
                   what=f"{kind} guidance model", **kwargs)


# Each model a pre-training stage of its own; its fields start from the diffusion model's resolved
# ones (the same width, epochs, batch and schedule), then config/guidance_model/<task>.yaml.
STAGES = tuple(
    StageSpec(name=f"{kind}_model", abbrev=LABELS[kind], label=f"{kind} guidance model", config=Config,
              pretrain=pretrain, rule=f"pretrain_{kind}", folder=f"guidance_model/{{task}}/{kind}",
              config_files="guidance_model", base="diffusion_model", fixed=(("kind", kind),))
    for kind in KINDS
)
