"""A task defined in config, without code: any gymnasium env id, wrapped to the suite's conventions.

    task_definitions:
      pendulum:
        env_id: InvertedPendulum-v5     # any registered gymnasium env
        metric: return                  # or: success, read from info[success_key] (e.g. is_success)
        max_episode_steps: 200          # the horizon (the env's own time limit is replaced)
        obs_keys: [observation, desired_goal]   # Dict observation spaces only: flattened in this order
        env_kwargs: {}                  # passed to gymnasium.make
        config_like: walker             # optional: methods' and the diffusion model's per-task
                                        # hyperparameters from this task's files (else their defaults)

Such a task has no expert: its demonstrations come from `datasets.<task>` (envs/importing.py). The
Snakefile gives each job its task's definition (--task-definitions: pipeline.job), and `envs.define_tasks`
registers it as DBC/<Name>-v0 with this module's ConfiguredEnv as entry point, so a dataset's recorded env spec
rebuilds the same env.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dbc_bench.errors import BenchError

DEFINITION_KEYS = ("env_id", "label", "metric", "success_key", "max_episode_steps", "obs_keys", "env_kwargs",
                   "config_like")


class ConfiguredEnv(gym.Env):
    """`env_id` made by gymnasium without its own time limit; observations flattened to float32 (a Dict
    space by `obs_keys`), `info['success']` from `info[success_key]` for success tasks. Termination
    is the wrapped env's; the suite's time limit is registered on top."""

    def __init__(self, env_id: str, metric: str = "return", success_key: str | None = None,
                 obs_keys: list[str] | None = None, env_kwargs: dict | None = None, render_mode: str | None = None):
        registered(env_id)
        self.inner = gym.make(env_id, max_episode_steps=None, render_mode=render_mode, **(env_kwargs or {})).unwrapped
        self.metric, self.success_key, self.obs_keys = metric, success_key, obs_keys
        self.render_mode = render_mode
        self.metadata = self.inner.metadata
        inner_space = self.inner.observation_space
        if isinstance(inner_space, spaces.Dict):
            if not obs_keys:
                raise BenchError(f"{env_id} has Dict observations ({', '.join(inner_space.spaces)}); "
                                 f"list the keys to flatten in 'obs_keys'")
            unknown = [key for key in obs_keys if key not in inner_space.spaces]
            if unknown:
                raise BenchError(f"{env_id}: obs_keys {unknown} are not among its observation keys "
                                 f"({', '.join(inner_space.spaces)})")
            dim = sum(int(np.prod(inner_space[key].shape)) for key in obs_keys)
        elif isinstance(inner_space, spaces.Box):
            if obs_keys:
                raise BenchError(f"{env_id} has flat observations: leave 'obs_keys' out")
            dim = int(np.prod(inner_space.shape))
        else:
            raise BenchError(f"{env_id}: observation space {type(inner_space).__name__} is neither Box nor Dict")
        if not isinstance(self.inner.action_space, spaces.Box):
            raise BenchError(f"{env_id}: the suite's methods need a continuous (Box) action space")
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(dim,), dtype=np.float32)
        self.action_space = self.inner.action_space

    def _flat(self, obs) -> np.ndarray:
        if self.obs_keys:
            return np.concatenate([np.ravel(obs[key]) for key in self.obs_keys]).astype(np.float32)
        return np.ravel(obs).astype(np.float32)

    def _info(self, info: dict) -> dict:
        if self.metric != "success":
            return dict(info)
        if self.success_key not in info:
            raise BenchError(f"{self.inner.spec.id if self.inner.spec else self.inner}: info has no "
                             f"'{self.success_key}' (success_key); keys: {', '.join(info) or 'none'}")
        return {**info, "success": bool(info[self.success_key])}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.inner.reset(seed=seed, options=options)
        info = dict(info)
        if self.metric == "success":  # many envs report success only after a step
            info = {**info, "success": bool(info.get(self.success_key, False))}
        return self._flat(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.inner.step(action)
        return self._flat(obs), float(reward), bool(terminated), bool(truncated), self._info(info)

    def render(self):
        return self.inner.render()

    def close(self):
        self.inner.close()


def registered(env_id: str) -> bool:
    """Whether gymnasium knows `env_id`; the robotics envs (Fetch, Shadow hand, ...) register only once
    gymnasium_robotics is imported, so it is imported first when needed."""
    if env_id not in gym.registry:
        try:
            import gymnasium_robotics  # noqa: F401  (registers its envs)
        except ImportError:
            return False
    return env_id in gym.registry


def check_definition(name: str, spec) -> dict:
    """`task_definitions.<name>`, every key checked; returns it with defaults filled in."""
    where = f"config 'task_definitions.{name}'"
    if not isinstance(spec, dict):
        raise BenchError(f"{where}: expected a mapping with env_id, metric and max_episode_steps")
    unknown = sorted(set(spec) - set(DEFINITION_KEYS))
    if unknown:
        raise BenchError(f"{where}: unknown key '{unknown[0]}'; choose from {', '.join(DEFINITION_KEYS)}")
    missing = [key for key in ("env_id", "metric", "max_episode_steps") if key not in spec]
    if missing:
        raise BenchError(f"{where}: missing '{missing[0]}'")
    if not registered(spec["env_id"]):
        raise BenchError(f"{where}: env_id '{spec['env_id']}' is not a registered gymnasium env")
    if spec["metric"] not in ("success", "return"):
        raise BenchError(f"{where}: metric '{spec['metric']}': choose from success, return")
    if spec["metric"] == "success" and not spec.get("success_key"):
        raise BenchError(f"{where}: a success task names the info key that reports it in 'success_key'")
    horizon = spec["max_episode_steps"]
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise BenchError(f"{where}: max_episode_steps must be a positive integer, got {horizon!r}")
    if not isinstance(spec.get("env_kwargs", {}), dict):
        raise BenchError(f"{where}: env_kwargs must be a mapping")
    return {"label": name, "success_key": None, "obs_keys": None, "env_kwargs": {}, "config_like": None, **spec}
