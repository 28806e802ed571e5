"""DBC-Bench task environments.

Importing this package registers six gymnasium envs (real env classes with
entry points, so ``env.spec`` rebuilds them, e.g. via Minari's
``recover_environment``):

- ``DBC/Maze-v0``: PointMaze medium, random start/goal, 400 steps, success.
- ``DBC/FetchPick-v0``: Fetch pick-and-place, narrow sampler (kwarg ``noise_ratio``), 50 steps, success.
- ``DBC/HandRotate-v0``: Shadow-hand block z-rotation, narrow angles, 50 steps, success.
- ``DBC/Walker-v0``: Walker2d-v5 on v3's model (``walker2d.xml``), 1000 steps, return (no 'success' in info).
- ``DBC/Cheetah-v0``: HalfCheetah-v5, whose model is v3's (``half_cheetah.xml``), 1000 steps, return.
- ``DBC/AntReach-v0``: gymnasium's Ant reaching a goal on a semicircle, 50 steps, success; the one
  success task that does not terminate on success (as the authors ran it).

All observations are flat float32 Boxes. Success tasks put ``info['success']``
in the reset info and every step's info and (but AntReach) terminate on success; truncation
comes from the registered ``max_episode_steps`` (gymnasium's TimeLimit).

Tasks defined in config without code (``task_definitions``, envs/configured.py) join the registry
through ``define_tasks`` (a job is given its task's definition: pipeline.job).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import gymnasium as gym

from dbc_bench.errors import BenchError


@dataclass(frozen=True)
class Task:
    """One task: the registry entry every stage, rule and report reads."""

    name: str
    label: str              # as tables and figures print it
    env_id: str
    entry_point: str        # "module:Class" of the env, registered under env_id on `import envs`
    metric: str             # 'success' or 'return'
    max_episode_steps: int
    obs_dim: int
    act_dim: int
    # "module:Class" of a scripted expert, "rl": a trained policy (envs/experts/rl.py), or "none": a task
    # defined in config, whose demonstrations are imported (envs/importing.py)
    expert: str = "rl"
    # An RL expert's demonstration actions: "mean" (the policy's mean, clipped to the action box) or
    # "sampled" (drawn from its Gaussian and stored unclipped; the env clips when stepping).
    expert_actions: str = "mean"
    # Env kwargs of the demonstrations where they differ from the registered defaults (the maze
    # records past success until its expert comes to rest at the goal, as the authors' data does).
    demo_kwargs: dict = field(default_factory=dict)
    # Cut each demonstration at the first step that reaches success (that step kept, as the episode's
    # end) and drop the episodes that never reach it: the authors' loader (trim_episodes_trans) did
    # this to their AntReach data, whose env does not end an episode on success.
    demo_cut_at_success: bool = False
    # The observation entry that holds the forward velocity (the data table's forward speed), if any.
    forward_velocity_obs: int | None = None
    kwargs: dict = field(default_factory=dict)  # the env's registered defaults
    # A task defined in config: the built-in task whose per-task hyperparameter files its methods and
    # diffusion model read (None: their defaults).
    config_like: str | None = None
    defined_in_config: bool = False

    @property
    def module(self) -> str:
        return self.entry_point.split(":")[0]

    @property
    def expert_module(self) -> str:
        return "envs.experts.rl" if self.expert == "rl" else self.expert.split(":")[0]

    def check_kwargs(self, kwargs: dict) -> None:
        """Only the env's own keyword arguments (its registered defaults) may be set."""
        unknown = sorted(set(kwargs) - set(self.kwargs))
        if unknown:
            choices = ", ".join(self.kwargs) or "none"
            raise BenchError(f"task '{self.name}' has no env argument {', '.join(unknown)}; choose from {choices}")
        for key, value in kwargs.items():  # of the default's type (an int where a float is due is fine)
            default = self.kwargs[key]
            numeric = isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool)
            if not numeric and type(value) is not type(default):
                raise BenchError(f"task '{self.name}': env argument {key} must be a {type(default).__name__} "
                                 f"(like its default {default!r}), got {value!r}")

    def make(self, **kwargs) -> gym.Env:
        return gym.make(self.env_id, **kwargs)


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("maze", "Maze", "DBC/Maze-v0", "envs.maze:MazeEnv", "success", 400, 6, 2,
         expert="envs.experts.maze:MazeExpert", kwargs={"terminate_on_success": True},
         demo_kwargs={"terminate_on_success": False}),
    Task("fetch_pick", "FetchPick", "DBC/FetchPick-v0", "envs.fetch_pick:FetchPickEnv", "success", 50, 16, 4,
         expert="envs.experts.fetch_pick:FetchPickExpert", kwargs={"noise_ratio": 1.0}),
    Task("hand_rotate", "HandRotate", "DBC/HandRotate-v0", "envs.hand_rotate:HandRotateEnv", "success", 50, 68, 20),
    Task("walker", "Walker", "DBC/Walker-v0", "envs.walker:WalkerEnv", "return", 1000, 17, 6,
         expert_actions="sampled", forward_velocity_obs=8),
    Task("cheetah", "Cheetah", "DBC/Cheetah-v0", "envs.cheetah:CheetahEnv", "return", 1000, 17, 6,
         expert_actions="sampled", forward_velocity_obs=8),
    Task("ant_reach", "AntReach", "DBC/AntReach-v0", "envs.ant_reach:AntReachEnv", "success", 50, 42, 8,
         kwargs={"start_noise": 0.01}, demo_cut_at_success=True),
)}


def define_tasks(definitions: dict) -> None:
    """Register tasks defined in config (envs/configured.py) in this process (a job is given its task's
    definition as its --task-definitions: pipeline.job)."""
    from envs.configured import ConfiguredEnv, check_definition

    checked = {name: check_definition(name, spec) for name, spec in definitions.items()}
    built_in = [name for name, task in TASKS.items() if not task.defined_in_config]
    for name, spec in checked.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(name)):
            raise BenchError(f"config 'task_definitions.{name}': a task name is lower-case letters, digits and _ "
                             f"(it names folders, wildcards and an env id), got {name!r}")
        if name in built_in:
            raise BenchError(f"config 'task_definitions.{name}': '{name}' is a built-in task")
        if spec["config_like"] is not None and spec["config_like"] not in built_in:
            raise BenchError(f"config 'task_definitions.{name}': config_like '{spec['config_like']}' is not a "
                             f"built-in task; choose from {', '.join(built_in)}")
        env_kwargs = {"env_id": spec["env_id"], "metric": spec["metric"], "success_key": spec["success_key"],
                      "obs_keys": spec["obs_keys"], "env_kwargs": spec["env_kwargs"]}
        probe = ConfiguredEnv(**env_kwargs)
        obs_dim, act_dim = probe.observation_space.shape[0], probe.action_space.shape[0]
        probe.close()
        env_id = f"DBC/{''.join(part.capitalize() for part in name.split('_'))}-v0"
        TASKS[name] = Task(name, spec["label"], env_id, "envs.configured:ConfiguredEnv", spec["metric"],
                           spec["max_episode_steps"], obs_dim, act_dim, expert="none", config_like=spec["config_like"],
                           defined_in_config=True)
        gym.register(id=env_id, entry_point=TASKS[name].entry_point, max_episode_steps=spec["max_episode_steps"],
                     kwargs=env_kwargs)


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise BenchError(f"unknown task '{name}'; choose from {', '.join(TASKS)}") from None


def _register() -> None:
    for task in TASKS.values():
        if task.env_id not in gym.registry:
            gym.register(id=task.env_id, entry_point=task.entry_point, max_episode_steps=task.max_episode_steps,
                         kwargs=dict(task.kwargs))


_register()

__all__ = ["Task", "TASKS", "define_tasks", "get_task"]
