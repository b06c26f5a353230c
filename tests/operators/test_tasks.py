"""Training tasks: the trainer runs any Task; SupervisedTask is the old default; GraphTask
trains a PyG GNN on graphs of different sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import GraphConv

from pdeflow.errors import ConfigError, DataError, ShapeError
from pdeflow.operators import FNO, TensorFieldDataset, Trainer, TrainerConfig
from pdeflow.operators.tasks import GraphTask, SupervisedTask, Task, per_graph_error


def _config(**kw):
    base = {"epochs": 3, "batch_size": 4, "lr": 3e-3, "progress": "off"}
    return TrainerConfig(**{**base, **kw})


class GNN(nn.Module):
    """Two mean-aggregating graph convolutions: node features (N, 2) -> (N, 1)."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv1 = GraphConv(2, hidden, aggr="mean")
        self.conv2 = GraphConv(hidden, 1, aggr="mean")

    @property
    def constructor_args(self) -> dict:
        return {"hidden": self.hidden}

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.conv1(x, edge_index)), edge_index)


def _graph(gen: torch.Generator, n: int) -> Data:
    """A ring with random chords; y_i = mean of x_j[0] over i's neighbours j, minus x_i[1]."""
    ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    chords = torch.randint(n, (2, n // 2), generator=gen)
    edges = torch.cat([ring, chords], 1)
    edge_index = torch.cat([edges, edges.flip(0)], 1)
    x = torch.randn(n, 2, generator=gen)
    src, dst = edge_index
    total = torch.zeros(n).index_add(0, dst, x[src, 0])
    degree = torch.zeros(n).index_add(0, dst, torch.ones(dst.shape[0]))
    y = (total / degree - x[:, 1])[:, None]
    return Data(x=x, edge_index=edge_index, y=y)


def _graphs(count: int, seed: int) -> list[Data]:
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(6, 40, (count,), generator=gen)
    return [_graph(gen, int(n)) for n in sizes]


def test_graph_task_trains_a_gnn_on_graphs_of_varying_size():
    train, val = _graphs(48, seed=0), _graphs(16, seed=1)
    assert len({g.num_nodes for g in train}) > 10  # really of different sizes
    torch.manual_seed(0)
    trainer = Trainer(
        GNN(), _config(epochs=25, batch_size=8, lr=1e-2, weight_decay=0.0), task=GraphTask()
    )
    before = trainer.evaluate(val)["val/l2"]
    history = trainer.fit(train, val=val)
    losses = [r["train_loss"] for r in history]
    assert losses[-1] < 0.3 * losses[0], losses
    assert history[-1]["val/l2"] < 0.3 * before, (before, history[-1])
    assert set(history[-1]) >= {"train_loss", "val/l2", "val/mse"}


def test_graph_task_loss_is_per_graph():
    """A small graph weighs as much as a large one: the loss is the mean of graph errors."""
    task = GraphTask(loss="mse")
    small = Data(x=torch.zeros(2, 1), y=torch.ones(2, 1), edge_index=torch.zeros(2, 0).long())
    large = Data(x=torch.zeros(98, 1), y=torch.zeros(98, 1), edge_index=torch.zeros(2, 0).long())
    batch = task.collate([small, large])
    loss, _ = task.step(lambda x, edge_index: x, batch)
    assert float(loss) == pytest.approx(0.5)  # (1 + 0) / 2 graphs, not 2 / 100 nodes
    errors = per_graph_error(torch.zeros(3, 1), torch.ones(3, 1), torch.tensor([0, 1, 1]), 2)
    torch.testing.assert_close(errors, torch.ones(2))


def test_graph_task_graph_level_targets():
    task = GraphTask(loss="mse")
    graphs = [
        Data(
            x=torch.ones(n, 1), y=torch.full((1, 1), float(n)), edge_index=torch.zeros(2, 0).long()
        )
        for n in (3, 5)
    ]
    batch = task.collate(graphs)

    def model(x, edge_index, index):
        return torch.zeros(2).index_add(0, index, x[:, 0])[:, None]  # node count per graph

    task = GraphTask(inputs=("x", "edge_index", "batch"), loss="mse")
    loss, _ = task.step(model, batch)
    assert float(loss) == 0.0


def test_graph_task_mismatched_feature_widths_is_one_line_error():
    graphs = _graphs(3, seed=2)
    graphs[2] = Data(
        x=torch.randn(5, 3), edge_index=graphs[2].edge_index[:, :0], y=torch.zeros(5, 1)
    )
    with pytest.raises(ShapeError) as err:
        GraphTask().collate(graphs)
    message = str(err.value)
    assert "\n" not in message
    assert "'x' of graph 2" in message and "(5, 3)" in message
    with pytest.raises(DataError, match="not a torch_geometric Data"):
        GraphTask().collate([{"x": torch.zeros(2, 2)}])
    with pytest.raises(DataError, match="no attribute 'y'"):
        GraphTask().collate([Data(x=torch.zeros(2, 2), edge_index=torch.zeros(2, 0).long())])


def test_graph_task_normalizers_are_saved_and_restored(tmp_path):
    train = _graphs(16, seed=3)
    for g in train:  # physical units far from unit scale
        g.x = 50.0 + 10.0 * g.x
        g.y = -3.0 + 0.01 * g.y
    torch.manual_seed(0)
    trainer = Trainer(
        GNN(), _config(epochs=2, out_dir=str(tmp_path)), task=GraphTask(normalize=True)
    )
    trainer.fit(train, val=train)
    norms = trainer.normalizers
    assert norms["x"].mean.tolist() == pytest.approx([50.0, 50.0], abs=5.0)
    assert float(norms["y"].mean) == pytest.approx(-3.0, abs=0.01)
    restored = Trainer(GNN(), _config(epochs=2), task=GraphTask(normalize=True))
    restored.resume(tmp_path / "last.pt")
    for key in ("x", "y"):
        torch.testing.assert_close(restored.normalizers[key].std, norms[key].std)
    assert restored.evaluate(train) == trainer.evaluate(train)


class Residual(Task):
    """No targets: learn u -> 2u from the residual ||model(u) - 2u||^2."""

    def __init__(self) -> None:
        self.prepared = 0
        self.epochs: list[int] = []

    def collate(self, samples):
        return torch.stack(samples)

    def step(self, model, batch):
        residual = (model(batch) - 2 * batch).pow(2).mean()
        return residual, {"residual": residual.detach()}

    def evaluate(self, model, data):
        values = [float(self.step(model, b)[0]) for b in data]
        return {"residual": sum(values) / len(values)}

    def prepare(self, data):
        self.prepared += 1

    def begin_epoch(self, model, epoch):
        self.epochs.append(epoch)


def test_trainer_runs_a_task_without_targets():
    data = [torch.randn(4) for _ in range(32)]
    task = Residual()
    trainer = Trainer(nn.Linear(4, 4), _config(epochs=60, lr=3e-2, weight_decay=0.0), task=task)
    history = trainer.fit(data, val=data[:8])
    assert task.prepared == 1 and task.epochs == list(range(60))
    assert history[-1]["train_residual"] == pytest.approx(history[-1]["train_loss"])
    assert history[-1]["val/residual"] < 0.02 * history[0]["train_loss"]


def test_default_task_is_supervised_and_explicit_one_is_identical():
    x = torch.randn(16, 1, 16)
    data = TensorFieldDataset(x, 2 * x + 1)
    runs = []
    for task in (None, SupervisedTask()):
        torch.manual_seed(0)
        trainer = Trainer(FNO(1, 1, modes=4, width=4), _config(), task=task)
        runs.append([r["train_loss"] for r in trainer.fit(data, val=data)])
        assert isinstance(trainer.task, SupervisedTask)
        assert sorted(trainer.normalizers) == ["x", "y"]
    assert runs[0] == runs[1]


def test_supervised_options_with_a_task_raise():
    with pytest.raises(ConfigError, match="belong to the task"):
        Trainer(nn.Linear(2, 2), _config(), task=GraphTask(), loss=nn.MSELoss())
    with pytest.raises(ConfigError, match="must be a pdeflow.operators.tasks.Task"):
        Trainer(nn.Linear(2, 2), _config(), task="graph")
    with pytest.raises(ConfigError, match="'loss' parameter of GraphTask"):
        GraphTask(loss="l1")


class GraphStream(torch.utils.data.IterableDataset):
    """Fresh graphs each epoch, as a datagen stream of ragged samples hands them out."""

    def __init__(self, count: int) -> None:
        self.count, self.epoch = count, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(_graphs(self.count, seed=100 + self.epoch))


def test_graph_task_trains_from_a_stream_with_normalizers():
    torch.manual_seed(0)
    task = GraphTask(normalize=True, normalizer_samples=8)
    trainer = Trainer(GNN(), _config(epochs=15, batch_size=8, lr=1e-2, weight_decay=0.0), task=task)
    history = trainer.fit(GraphStream(32), val=_graphs(8, seed=1))
    losses = [r["train_loss"] for r in history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert task.normalizers["x"] is not None and task.normalizers["y"] is not None
