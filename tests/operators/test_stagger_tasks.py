"""PhysicsTask (pool, residual loss) and RolloutEvaluator, on the heat and NS families."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from pdeflow.errors import ConfigError, ShapeError
from pdeflow.operators.models.unet import UNet
from pdeflow.operators.stagger import (
    HeatProblem,
    NeuralStagger,
    TorusNavierStokesProblem,
    train_physics,
)
from pdeflow.operators.tasks.base import Task
from pdeflow.operators.tasks.physics import PhysicsTask
from pdeflow.operators.tasks.rollout import RolloutEvaluator


def _net(problem, s=2, k=1, width=8):
    pm = "circular" if isinstance(problem, TorusNavierStokesProblem) else "zeros"
    return NeuralStagger(
        functools.partial(UNet, width=width, depth=1, padding_mode=pm),
        s=s,
        k=k,
        cond_channels=problem.cond_channels,
        scale=problem.scale,
    )


def test_initial_states_come_from_the_family_sampler():
    p = HeatProblem(resolution=16, n_records=2)
    task = PhysicsTask(p.residual, p.initial, pool_size=3)
    assert isinstance(task, Task)
    for i in range(3):
        sample = p.family.sample(i)
        assert np.array_equal(task.pool[i]["u"][0].numpy(), sample["u0"])
        assert np.array_equal(task.pool[i]["kappa"][0].numpy(), sample["kappa"])


@pytest.mark.parametrize("k", [1, 2])
def test_heat_physics_loss_falls_without_data(k):
    torch.manual_seed(0)
    p = HeatProblem(resolution=16, n_records=2, record_dt=0.1, k=k, kappa=0.05)
    task = PhysicsTask(
        p.residual,
        p.initial,
        pool_size=16,
        max_age=4,
        precondition=p.precondition,
        dtype=torch.float32,
    )
    net = _net(p, k=k)
    before = task.evaluate(net)["residual_loss"]
    log = train_physics(net, task, steps=60, batch_size=8, lr=1e-2, log_every=20)
    fresh = PhysicsTask(
        p.residual, p.initial, pool_size=16, precondition=p.precondition, dtype=torch.float32
    )  # the same initial states, untouched by training
    after = fresh.evaluate(net)["residual_loss"]
    assert after < 0.8 * before and log[-1]["loss"] < log[0]["loss"], (before, after, log)


def test_the_trainer_runs_a_physics_task_from_its_pool():
    """#21 item 3: the Trainer trains on a PhysicsTask (no targets) through ``task.dataset()``."""
    from pdeflow.operators import Trainer, TrainerConfig

    torch.manual_seed(0)
    p = HeatProblem(resolution=16, n_records=2, record_dt=0.1, kappa=0.05)

    def task():
        return PhysicsTask(
            p.residual, p.initial, pool_size=16, max_age=4, precondition=p.precondition,
            dtype=torch.float32,
        )  # fmt: skip

    train, net = task(), _net(p)
    before = task().evaluate(net)["residual_loss"]
    config = TrainerConfig(epochs=15, batch_size=8, lr=1e-2, weight_decay=0.0, progress="off")
    history = Trainer(net, config, task=train).fit(train.dataset(32))
    after = task().evaluate(net)["residual_loss"]  # the same initial states, untouched
    assert after < 0.8 * before, (before, after, [r["train_loss"] for r in history])


def test_ns_physics_loss_falls_without_data():
    torch.manual_seed(0)
    p = TorusNavierStokesProblem(resolution=16, n_records=2, record_dt=0.05)
    task = PhysicsTask(
        p.residual,
        p.initial,
        pool_size=16,
        max_age=1,
        precondition=p.precondition,
        dtype=torch.float32,
    )
    net = _net(p)
    before = task.evaluate(net)["residual_loss"]
    train_physics(net, task, steps=60, batch_size=8, lr=1e-2, log_every=20)
    after = PhysicsTask(
        p.residual, p.initial, pool_size=16, precondition=p.precondition, dtype=torch.float32
    ).evaluate(net)["residual_loss"]
    assert after < 0.8 * before, (before, after)


def test_pool_is_refreshed_by_the_models_own_predictions():
    p = HeatProblem(resolution=8, n_records=1)
    task = PhysicsTask(p.residual, p.initial, pool_size=4, max_age=2, reset_prob=0.0)
    net = _net(p).double()
    with torch.no_grad():
        net.solvers[0].head.bias.fill_(1.0)  # a stepper that adds `scale` everywhere
    batch = task.collate([task.pool[0], task.pool[2]])
    old = batch["u"].clone()
    task.step(net, batch)
    torch.testing.assert_close(task.pool[0]["u"], old[0] + net.scale)
    torch.testing.assert_close(task.pool[2]["u"], old[1] + net.scale)
    assert task.age.tolist() == [1, 0, 1, 0]
    task.step(net, task.collate([task.pool[0]]))  # age 2 = max_age: a fresh sample (the 5th)
    assert np.array_equal(task.pool[0]["u"][0].numpy(), p.family.sample(4)["u0"])
    assert task.age[0] == 0 and int(task.pool[0]["index"]) == 0


def test_pool_dataset_feeds_a_dataloader():
    p = HeatProblem(resolution=8, n_records=1)
    task = PhysicsTask(p.residual, p.initial, pool_size=6)
    ds = task.dataset(steps=12)
    assert isinstance(ds, IterableDataset)
    batches = list(DataLoader(ds, batch_size=6, collate_fn=task.collate))
    assert [b["u"].shape for b in batches] == [(6, 1, 8, 8)] * 2
    assert sorted(batches[0]["index"].tolist()) == list(range(6))  # distinct pool entries


def test_physics_task_errors():
    p = HeatProblem(resolution=8, n_records=1)
    with pytest.raises(ConfigError, match="'pool_size' of PhysicsTask"):
        PhysicsTask(p.residual, p.initial, pool_size=0)
    with pytest.raises(ConfigError, match="'u'"):
        PhysicsTask(p.residual, lambda i: {"x": np.zeros(3)}, pool_size=1)


def test_rollout_evaluator_against_the_solver():
    """A stepper that replays the reference scores 0; the identity scores ‖u_n - u_0‖/‖u_n‖."""
    p = HeatProblem(resolution=16, n_records=4, record_dt=0.05)
    ref = p.reference([0, 1, 2])
    ev = RolloutEvaluator(**ref)
    assert np.allclose(ev.times, [0.05, 0.1, 0.15, 0.2])
    frames = iter(ref["reference"].unbind(1))
    assert np.abs(ev.evaluate(lambda u, c: next(frames)).rel_l2).max() == 0.0
    res = ev.evaluate(lambda u, c: u)
    u0, r = ref["u0"].numpy(), ref["reference"].numpy()
    want = np.mean(
        [
            [np.linalg.norm(u0[m] - r[m, t]) / np.linalg.norm(r[m, t]) for t in range(4)]
            for m in range(3)
        ],
        axis=0,
    )
    np.testing.assert_allclose(res.rel_l2, want, rtol=1e-12)
    assert res.rel_l2_per_sample.shape == (3, 4) and res.predictions.shape == (3, 4, 1, 16, 16)
    assert np.all(np.diff(res.rel_l2) > 0)  # the identity drifts away from the solution


def test_rollout_evaluator_scores_ns_in_vorticity():
    p = TorusNavierStokesProblem(resolution=16, n_records=2, record_dt=0.05)
    ref = p.reference([0])
    ev = RolloutEvaluator(**ref)
    frames = iter(ref["reference"].unbind(1))
    assert ev.metrics(lambda u, c: next(frames)) == {
        "rollout_rel_l2_final": 0.0,
        "rollout_rel_l2_mean": 0.0,
    }
    w = p.observe(ref["u0"])
    w_family = torch.as_tensor(p.family.sample(0)["w0"])
    assert float((w[0] - w_family).norm() / w_family.norm()) < 0.15  # 5-point vs spectral -Δ


def test_rollout_evaluator_errors():
    with pytest.raises(ShapeError, match="reference must have shape"):
        RolloutEvaluator(torch.zeros(2, 1, 4, 4), torch.zeros(2, 3, 1, 4, 5))
    with pytest.raises(ShapeError, match="times must have shape"):
        RolloutEvaluator(torch.zeros(2, 1, 4), torch.zeros(2, 3, 1, 4), times=[1.0, 2.0])


def test_physics_task_evaluate_includes_rollouts():
    p = HeatProblem(resolution=8, n_records=2)
    ev = RolloutEvaluator(**p.reference([5]))
    task = PhysicsTask(p.residual, p.initial, pool_size=2, evaluator=ev)
    m = task.evaluate(_net(p).double())
    assert set(m) == {"residual_loss", "rollout_rel_l2_final", "rollout_rel_l2_mean"}
    assert m["rollout_rel_l2_final"] > 0
