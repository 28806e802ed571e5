"""The learners behind envs.experts.training: stable-baselines3's PPO, and DDPG with hindsight experience
replay (HER) on a goal task's dict-observation view; their training envs (reward shaping); and the export of
a trained actor as the weights-only file envs/experts/rl.py loads."""
from __future__ import annotations

import numpy as np
import torch

from envs.experts.rl import ACTIVATIONS, FORMAT


def make_env_fn(task, shaping: dict | None):
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor

    class ShapedReward(gym.Wrapper):
        """The training reward of `shaping`: hand_rotate's dense -(rotation error in rad), or the env's own
        reward, plus a bonus on every step in the success region (ant_reach: the dense reward alone
        barely tells a reach within 0.5 from one within 1)."""

        def __init__(self, env, kind: str, success_bonus: float):
            super().__init__(env)
            self.kind, self.success_bonus = kind, float(success_bonus)

        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            if self.kind == "rotation_distance":
                reward = -self.env.unwrapped.rotation_error()
            reward = float(reward) + self.success_bonus * float(info["success"])
            return obs, reward, terminated, truncated, info

    def make():
        env = task.make()
        if shaping is not None:
            env = ShapedReward(env, shaping["type"], shaping.get("success_bonus", 0.0))
        keys = ("success",) if task.metric == "success" else ()
        return Monitor(env, info_keywords=keys)

    return make


def make_goal_env_fn(task):
    """The goal task as a dict-observation goal env for HER: `observation` and `desired_goal` are the flat
    observation's two parts (the goal as the task shows it), `achieved_goal` the block's pose seen the
    same way; episodes run their 50 steps without ending on success, as HER trains."""
    import gymnasium as gym
    from gymnasium import spaces
    from stable_baselines3.common.monitor import Monitor

    class GoalDictEnv(gym.Env):
        def __init__(self):
            self.flat = task.make().unwrapped
            self.sim = self.flat.sim_env
            n_goal = self.sim.observation_space["desired_goal"].shape[0]
            box = lambda n: spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)  # noqa: E731
            self.n_obs = task.obs_dim - n_goal
            self.observation_space = spaces.Dict({"observation": box(self.n_obs), "achieved_goal": box(n_goal),
                                                  "desired_goal": box(n_goal)})
            self.action_space = self.flat.action_space

        def _dict(self, obs: dict) -> dict:
            return {"observation": self.flat._flat(obs)[: self.n_obs],
                    "achieved_goal": self.flat.goal_view(obs["achieved_goal"]).astype(np.float32),
                    "desired_goal": self.flat.goal_view(obs["desired_goal"]).astype(np.float32)}

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            obs, _ = self.sim.reset(seed=seed, options=options)
            return self._dict(obs), {"success": self.flat._success(obs, {})}

        def step(self, action):
            obs, reward, _, _, _ = self.sim.step(np.asarray(action, dtype=np.float64))
            return self._dict(obs), float(reward), False, False, {"success": self.flat._success(obs, {})}

        def compute_reward(self, achieved_goal, desired_goal, info):
            return self.sim.compute_reward(achieved_goal, desired_goal, info)

    def make():
        return Monitor(gym.wrappers.TimeLimit(GoalDictEnv(), task.max_episode_steps), info_keywords=("success",))

    return make


def flat_goal_extractor():
    """A features extractor that feeds the actor and critic the task's flat observation, [observation,
    desired_goal], so that the exported actor acts on the suite's observations unchanged."""
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class FlatGoalFeatures(BaseFeaturesExtractor):
        def __init__(self, observation_space):
            dim = observation_space["observation"].shape[0] + observation_space["desired_goal"].shape[0]
            super().__init__(observation_space, features_dim=dim)

        def forward(self, observations):
            return torch.cat([observations["observation"], observations["desired_goal"]], dim=1)

    return FlatGoalFeatures


def learning_rate(cfg: dict):
    """The learning rate, or stable-baselines3's schedule of it (linear: to 0 at the end of the budget)."""
    lr0 = float(cfg["learning_rate"]["initial"])
    linear = cfg["learning_rate"]["schedule"] == "linear"
    return (lambda progress_remaining: lr0 * progress_remaining) if linear else lr0


def build_ddpg_her(cfg: dict, task, seed: int):
    """DDPG + HER on the task's goal env; returns (model, vec_env, vec_normalize or None)."""
    from stable_baselines3 import DDPG, HerReplayBuffer
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    vec = DummyVecEnv([make_goal_env_fn(task) for _ in range(int(cfg["n_envs"]))])
    vec.seed(seed)
    norm, ddpg = cfg["normalize"], cfg["ddpg"]
    vec_norm = None
    if norm["obs"]:
        vec = vec_norm = VecNormalize(vec, norm_obs=True, norm_reward=False, clip_obs=float(norm["clip_obs"]),
                                      gamma=float(ddpg["gamma"]), norm_obs_keys=["observation", "desired_goal"])
    act_dim = vec.action_space.shape[0]
    pol = cfg["policy"]
    policy_kwargs = {"net_arch": list(pol["hidden"]), "activation_fn": ACTIVATIONS[pol["activation"]],
                     "features_extractor_class": flat_goal_extractor()}
    if pol["value_hidden"] is not None:
        policy_kwargs["net_arch"] = {"pi": list(pol["hidden"]), "qf": list(pol["value_hidden"])}
    model = DDPG("MultiInputPolicy", vec, learning_rate=learning_rate(cfg),
                 buffer_size=int(ddpg["buffer_size"]), learning_starts=int(ddpg["learning_starts"]),
                 batch_size=int(ddpg["batch_size"]), tau=float(ddpg["tau"]), gamma=float(ddpg["gamma"]),
                 train_freq=(int(ddpg["train_episodes"]), "episode"), gradient_steps=int(ddpg["gradient_steps"]),
                 action_noise=NormalActionNoise(np.zeros(act_dim), np.full(act_dim, float(ddpg["action_noise"]))),
                 replay_buffer_class=HerReplayBuffer,
                 replay_buffer_kwargs={"n_sampled_goal": int(ddpg["n_sampled_goal"]),
                                       "goal_selection_strategy": ddpg["goal_selection_strategy"]},
                 policy_kwargs=policy_kwargs, seed=seed, device="cpu", verbose=0)
    return model, vec, vec_norm


def build_ppo(cfg: dict, task, seed: int):
    """PPO on the task's env (its reward shaped as configured); returns (model, vec_env, vec_normalize or None)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    vec = DummyVecEnv([make_env_fn(task, cfg["reward_shaping"]) for _ in range(int(cfg["n_envs"]))])
    vec.seed(seed)
    norm = cfg["normalize"]
    vec_norm = None
    if norm["obs"] or norm["reward"]:
        vec = vec_norm = VecNormalize(vec, norm_obs=bool(norm["obs"]), norm_reward=bool(norm["reward"]),
                                      clip_obs=float(norm["clip_obs"]), gamma=float(cfg["ppo"]["gamma"]))
    pol = cfg["policy"]
    policy_kwargs = {"net_arch": {"pi": list(pol["hidden"]), "vf": list(pol["value_hidden"] or pol["hidden"])},
                     "activation_fn": ACTIVATIONS[pol["activation"]], "log_std_init": float(pol["log_std_init"]),
                     "ortho_init": bool(pol["ortho_init"])}
    model = PPO("MlpPolicy", vec, learning_rate=learning_rate(cfg), policy_kwargs=policy_kwargs, seed=seed,
                device="cpu", verbose=0, **dict(cfg["ppo"]))
    if not pol["log_std_trainable"]:
        # Adam skips a parameter without a gradient, so the noise stays at exp(log_std_init).
        model.policy.log_std.requires_grad_(False)
    return model, vec, vec_norm


ALGORITHM_NAMES = {"ppo": "PPO", "ddpg_her": "DDPG+HER"}


def export_blob(model, vec_norm, task, cfg) -> dict:
    """The current policy as a weights-only dict (see envs/experts/rl.py for the layout)."""
    policy = model.policy
    hidden = list(cfg["policy"]["hidden"])
    state = {}
    ddpg = cfg["algorithm"] == "ddpg_her"
    if ddpg:
        linears = [m for m in policy.actor.mu if isinstance(m, torch.nn.Linear)]
    else:
        linears = [m for m in policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
        linears.append(policy.action_net)
    for i, layer in enumerate(linears):
        # methods.core.mlp interleaves activations, so Linear layers sit at even indices.
        state[f"{2 * i}.weight"] = layer.weight.detach().cpu().clone()
        state[f"{2 * i}.bias"] = layer.bias.detach().cpu().clone()
    if vec_norm is not None and cfg["normalize"]["obs"]:
        rms = ([vec_norm.obs_rms["observation"], vec_norm.obs_rms["desired_goal"]] if ddpg else [vec_norm.obs_rms])
        mean = torch.as_tensor(np.concatenate([r.mean for r in rms]), dtype=torch.float64)
        var = torch.as_tensor(np.concatenate([r.var for r in rms]), dtype=torch.float64)
        clip, eps = float(vec_norm.clip_obs), float(vec_norm.epsilon)
    else:
        mean, var = torch.zeros(task.obs_dim, dtype=torch.float64), torch.ones(task.obs_dim, dtype=torch.float64)
        clip, eps = float("inf"), 0.0
    blob = {"format": FORMAT, "task": task.name, "algorithm": ALGORITHM_NAMES[cfg["algorithm"]], "hidden": hidden,
            "activation": cfg["policy"]["activation"], "actor": state, "obs_mean": mean, "obs_var": var,
            "obs_clip": clip, "obs_epsilon": eps}
    if ddpg:
        blob["output"] = "tanh"  # DDPG's deterministic actor squashes its action
    else:
        blob["log_std"] = policy.log_std.detach().cpu().clone()
    return blob


def optimizer(model):
    """The optimiser whose learning rate the curve records (PPO's one, DDPG's actor's)."""
    policy = model.policy
    return policy.actor.optimizer if hasattr(policy, "actor") else policy.optimizer
