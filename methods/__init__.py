"""Imitation-learning methods, one module each, and what they share.

A method module holds a `Config` dataclass of its hyperparameters (fields declared with
`dbc_bench.fields.option`) and declares itself with `METHOD = MethodSpec(...)` (methods/registry.py):
an offline method gives `build(cfg, obs_dim, act_dim, context)` returning an Agent with
`loss(obs, act) -> (loss, {name: tensor})` and `act(obs) -> action` on z-scored tensors, trained by
the shared loop (methods/train.py); an online method (GAIL) gives a trainer instead. Data,
normalisation, checkpoints and evaluation are shared. See the README, "Add your method", and docs/extending.md.
"""
