"""Task environments: spaces, seeding, success/termination, truncation, samplers."""

import gymnasium as gym
import numpy as np
import pytest

import envs
from dbc_bench.errors import BenchError
from envs import TASKS, get_task
from envs.experts import make_expert

SUCCESS_TASKS = ["maze", "fetch_pick", "hand_rotate", "ant_reach"]
EXPECTED = {
    "maze": ("DBC/Maze-v0", "success", 400, 6, 2),
    "fetch_pick": ("DBC/FetchPick-v0", "success", 50, 16, 4),
    "hand_rotate": ("DBC/HandRotate-v0", "success", 50, 68, 20),
    "walker": ("DBC/Walker-v0", "return", 1000, 17, 6),
    "cheetah": ("DBC/Cheetah-v0", "return", 1000, 17, 6),
    "ant_reach": ("DBC/AntReach-v0", "success", 50, 42, 8),
}
N_STEPS = {"maze": 60, "fetch_pick": 20, "hand_rotate": 15, "walker": 60, "cheetah": 60, "ant_reach": 20}


def random_actions(env, n, seed=0):
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    return [rng.uniform(low, high).astype(np.float32) for _ in range(n)]


def test_task_table():
    assert set(TASKS) == set(EXPECTED)
    for name, (env_id, metric, steps, obs_dim, act_dim) in EXPECTED.items():
        task = get_task(name)
        assert (task.name, task.env_id, task.metric) == (name, env_id, metric)
        assert (task.max_episode_steps, task.obs_dim, task.act_dim) == (steps, obs_dim, act_dim)
        assert env_id in gym.registry


def test_unknown_task():
    choices = "maze, fetch_pick, hand_rotate, walker, cheetah, ant_reach"
    with pytest.raises(BenchError, match=f"unknown task 'nope'; choose from {choices}"):
        get_task("nope")


@pytest.mark.parametrize("name", list(TASKS))
def test_spaces_and_info(name):
    task = get_task(name)
    env = task.make()
    assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, (task.obs_dim,), np.float32)
    assert isinstance(env.action_space, gym.spaces.Box)
    assert env.action_space.shape == (task.act_dim,) and env.action_space.dtype == np.float32
    assert env.spec.id == task.env_id
    assert env.spec.max_episode_steps == task.max_episode_steps

    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (task.obs_dim,)
    assert env.observation_space.contains(obs)
    for action in random_actions(env, 3):
        obs, reward, terminated, truncated, step_info = env.step(action)
        assert obs.dtype == np.float32 and env.observation_space.contains(obs)
        assert np.isscalar(reward)
        if task.metric == "success":
            assert isinstance(step_info["success"], bool)
        else:
            assert "success" not in step_info
    if task.metric == "success":
        assert info["success"] is False
    else:
        assert "success" not in info
    env.close()


@pytest.mark.parametrize("name", list(TASKS))
def test_spec_rebuilds_env(name):
    env = get_task(name).make()
    rebuilt = gym.make(env.spec)
    assert rebuilt.spec == env.spec
    assert type(rebuilt.unwrapped) is type(env.unwrapped)
    np.testing.assert_array_equal(env.reset(seed=3)[0], rebuilt.reset(seed=3)[0])


@pytest.mark.parametrize("name", list(TASKS))
def test_seeding_reproducible(name):
    task = get_task(name)
    env_a, env_b = task.make(), task.make()
    actions = random_actions(env_a, N_STEPS[name])

    # env_a has a history before the seeded reset; it must not matter.
    env_a.reset(seed=123)
    for action in actions[:5]:
        env_a.step(action)
    obs_a, _ = env_a.reset(seed=7)
    obs_b, _ = env_b.reset(seed=7)
    np.testing.assert_array_equal(obs_a, obs_b)
    for action in actions:
        step_a, step_b = env_a.step(action), env_b.step(action)
        np.testing.assert_array_equal(step_a[0], step_b[0])
        assert step_a[1:4] == step_b[1:4]
        if step_a[2] or step_a[3]:
            break

    other, _ = env_b.reset(seed=8)
    assert not np.array_equal(env_a.reset(seed=7)[0], other)


@pytest.mark.parametrize("name", ["maze", "fetch_pick"])
def test_expert_drives_to_success_and_termination(name):
    task = get_task(name)
    env = task.make()
    expert = make_expert(name, env, np.random.default_rng(0))
    obs, info = env.reset(seed=11)
    expert.reset(obs)
    for t in range(task.max_episode_steps):
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
        assert info["success"] is False
    assert terminated and not truncated
    assert info["success"] is True


def test_hand_success_and_termination_when_goal_is_reached():
    env = get_task("hand_rotate").make()
    _, info = env.reset(seed=0)
    assert info["success"] is False
    assert env.unwrapped.rotation_error() > 0.5

    # Put the target at the block's current pose: one gentle step must succeed.
    sim = env.unwrapped.sim_env
    sim.goal = sim._get_achieved_goal().copy()
    _, reward, terminated, truncated, info = env.step(np.zeros(20, np.float32))
    assert info["success"] is True and terminated and not truncated
    assert reward == 0.0


@pytest.mark.parametrize("name", SUCCESS_TASKS)
def test_random_step_is_not_success(name):
    env = get_task(name).make()
    for seed in range(3):
        _, info = env.reset(seed=seed)
        assert info["success"] is False
        _, _, terminated, _, info = env.step(random_actions(env, 1, seed)[0])
        assert info["success"] is False and not terminated


@pytest.mark.parametrize("name", SUCCESS_TASKS)
def test_truncation_at_max_episode_steps(name):
    task = get_task(name)
    env = task.make()
    env.reset(seed=0)
    # A zero action never reaches the goal in these tasks.
    zero = np.zeros(task.act_dim, np.float32)
    for t in range(1, task.max_episode_steps + 1):
        _, _, terminated, truncated, info = env.step(zero)
        assert not terminated and info["success"] is False
        assert truncated == (t == task.max_episode_steps)


def test_walker_time_limit():
    # 1000 healthy steps are slow to script; check gymnasium's TimeLimit is set up.
    env = get_task("walker").make()
    assert isinstance(env, gym.wrappers.TimeLimit)
    assert env.spec.max_episode_steps == 1000 and env._max_episode_steps == 1000


def _initial_positions(noise_ratio, n=50):
    env = get_task("fetch_pick").make(noise_ratio=noise_ratio)
    assert env.spec.kwargs["noise_ratio"] == noise_ratio
    gripper = env.unwrapped.sim_env.initial_gripper_xpos
    objects, goals = [], []
    for seed in range(n):
        obs, _ = env.reset(seed=seed)
        objects.append(obs[3:6] - gripper)
        goals.append(obs[13:16] - gripper)
    return np.array(objects), np.array(goals), env.unwrapped.sim_env.height_offset - gripper[2]


def test_fetch_sampler_and_noise_ratio():
    obj1, goal1, table_dz = _initial_positions(1.0)
    obj2, goal2, _ = _initial_positions(2.0)

    # Ranges of the narrow sampler at r = 1.
    assert np.all(np.abs(obj1[:, 0]) <= 0.05) and np.all(np.abs(goal1[:, 0]) <= 0.05)
    assert np.all((obj1[:, 1] >= 0.10) & (obj1[:, 1] <= 0.14))
    assert np.all((goal1[:, 1] >= -0.14) & (goal1[:, 1] <= -0.10))
    np.testing.assert_allclose(goal1[:, 2], table_dz + 0.15, atol=1e-6)
    np.testing.assert_allclose(obj1[:, 2], table_dz, atol=1e-3)

    # Same seeds, doubled box: spreads (and offsets from the box corner) double.
    for a, b in ((obj1, obj2), (goal1, goal2)):
        ratio = b[:, :2].std(axis=0) / a[:, :2].std(axis=0)
        np.testing.assert_allclose(ratio, 2.0, rtol=0.05)
    assert obj2[:, 1].max() > 0.14 and goal2[:, 1].min() < -0.14


def test_task_make_passes_kwargs():
    env = envs.get_task("fetch_pick").make(noise_ratio=1.25)
    assert env.unwrapped.noise_ratio == 1.25
    assert env.unwrapped.sim_env.noise_ratio == 1.25


def test_cheetah_is_v3s_task():
    """v3's model file, reward (forward velocity - 0.1 |a|^2), reset noise and no early termination."""
    env = get_task("cheetah").make()
    sim = env.unwrapped
    assert sim.fullpath.endswith("half_cheetah.xml") and sim.frame_skip == 5
    obs, _ = env.reset(seed=0)
    qpos0, qvel0 = sim.init_qpos, sim.init_qvel
    starts = np.array([env.reset(seed=s)[0] for s in range(200)])
    assert np.all(np.abs(starts[:, :8] - qpos0[1:]) <= 0.1)  # positions: uniform +-0.1
    np.testing.assert_allclose(np.std(starts[:, 8:] - qvel0, axis=0), 0.1, rtol=0.25)  # velocities: N(0, 0.1)
    env.reset(seed=1)
    # A huge action is clipped by the env; the reward charges the action as given.
    rng = np.random.default_rng(0)
    for _ in range(30):
        action = rng.uniform(-1, 1, 6).astype(np.float32)
        x_before = sim.data.qpos[0]
        _, reward, terminated, truncated, info = env.step(action)
        forward = (sim.data.qpos[0] - x_before) / sim.dt
        np.testing.assert_allclose(reward, forward - 0.1 * np.square(action).sum(), rtol=1e-5, atol=1e-6)
        assert not terminated and not truncated and "success" not in info
    assert env.spec.max_episode_steps == 1000


def test_ant_reach_layout_goal_and_start():
    """42 entries: ant qpos[2:] (13), the goal marker's pose (7), qvel (14), its velocity (6), goal - torso."""
    env = get_task("ant_reach").make()
    sim = env.unwrapped
    assert sim.frame_skip * sim.model.opt.timestep == pytest.approx(0.1)  # the authors' control period
    goals, starts = [], []
    for seed in range(200):
        obs, info = env.reset(seed=seed)
        goal = sim.goal
        goals.append(goal)
        starts.append(sim.data.qpos.copy())
        assert info["success"] is False
        np.testing.assert_allclose(obs[:13], sim.data.qpos[2:], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(obs[13:20], [*goal, 0, 1, 0, 0, 0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(obs[20:34], sim.data.qvel, rtol=1e-6, atol=1e-7)
        assert np.all(obs[34:40] == 0)
        np.testing.assert_allclose(obs[40:], goal - sim.data.body("torso").xpos[:2], rtol=1e-6, atol=1e-6)
    goals, starts = np.array(goals), np.array(starts)
    np.testing.assert_allclose(np.linalg.norm(goals, axis=1), 5.0)
    angles = np.arctan2(goals[:, 1], goals[:, 0])
    assert angles.min() >= 0 and angles.max() <= np.pi and angles.min() < 0.3 and angles.max() > np.pi - 0.3
    standing = np.array([0, 0, 0.55, 1, 0, 0, 0, 0, 1, 0, -1, 0, -1, 0, 1])
    noise = starts - standing
    assert np.abs(noise).max() <= 0.01 and np.abs(noise).max() > 0.009  # start noise 0.01


def test_ant_reach_success_reward_and_no_termination():
    env = get_task("ant_reach").make()
    sim = env.unwrapped
    env.reset(seed=0)
    zero = np.zeros(8, np.float32)
    _, reward, terminated, _, info = env.step(zero)
    assert info["success"] is False and not terminated
    assert reward == pytest.approx(1 - info["distance"] / 5, abs=0.01)  # no action cost; small contact cost
    # Put the goal 0.4 from the torso: success (within 0.5), and the episode goes on.
    sim.goal = sim.data.body("torso").xpos[:2] + np.array([0.4, 0.0])
    _, reward, terminated, truncated, info = env.step(zero)
    assert info["success"] is True and not terminated and not truncated
    sim.goal = sim.data.body("torso").xpos[:2] + np.array([0.6, 0.0])
    _, _, terminated, _, info = env.step(zero)
    assert info["success"] is False and not terminated
