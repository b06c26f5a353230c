"""A model loaded for inference predicts in physical units, or refuses (issue #28, item 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdeflow.errors import ConfigError, ShapeError
from pdeflow.operators import (
    FNO,
    LpLoss,
    Predictor,
    TensorFieldDataset,
    Trainer,
    TrainerConfig,
    load_model,
    load_predictor,
)
from pdeflow.operators.checkpoint import load_normalizers, read_checkpoint
from pdeflow.operators.recipes import evaluate_checkpoint
from pdeflow.operators.toy_data import darcy1d_source, write_h5


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny FNO trained with normalizers on 1-D Darcy, its checkpoint and an HDF5 test file."""
    tmp = tmp_path_factory.mktemp("predictor")
    source = darcy1d_source(resolution=32)
    train_file = write_h5(tmp / "train.h5", source, 24, seed=0)
    test_file = write_h5(tmp / "test.h5", source, 8, seed=1)
    from pdeflow.operators import H5FieldDataset

    torch.manual_seed(0)
    train = H5FieldDataset(train_file).materialize()
    cfg = TrainerConfig(epochs=20, batch_size=8, lr=1e-2, progress="off", device="cpu")
    trainer = Trainer(FNO(1, 1, modes=8, width=16, n_layers=2), cfg)
    trainer.fit(train)
    path = trainer.save_checkpoint(tmp / "last.pt")
    test = H5FieldDataset(test_file).materialize()
    return trainer, path, test_file, test


def test_predictor_gives_the_evaluate_figure(trained):
    trainer, path, test_file, test = trained
    figure = evaluate_checkpoint(path, test_file, device="cpu")["data/l2"]  # `pdeflow evaluate`
    predictor = Predictor.from_checkpoint(path)
    assert not predictor.training
    pred = predictor.predict(test.x)
    ours = float(LpLoss()(pred, test.y))
    assert ours == pytest.approx(figure, rel=1e-5)
    assert ours < 0.3, ours  # a trained model (untrained: ~1)
    # Trainer.predict agrees, and so do load_predictor and Predictor.from_trainer
    with torch.no_grad():
        torch.testing.assert_close(trainer.predict(test.x), pred)
    torch.testing.assert_close(load_predictor(path)(test.x).detach(), pred)
    torch.testing.assert_close(Predictor.from_trainer(trainer).predict(test.x), pred)
    # numpy in, numpy out; one unbatched sample; batches in pieces
    arr = predictor.predict(test.x.numpy())
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float32
    np.testing.assert_allclose(arr, pred.numpy(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(predictor.predict(test.x[3]), pred[3])
    torch.testing.assert_close(predictor.predict(test.x, batch_size=3), pred)
    with pytest.raises(ShapeError, match="got shape"):
        predictor.predict(test.x[None])


def test_bare_model_of_a_normalized_checkpoint_is_refused(trained):
    _, path, _, test = trained
    with pytest.raises(ConfigError, match="Predictor.from_checkpoint"):
        FNO.from_checkpoint(path)
    with pytest.raises(ConfigError, match="normalized=True"):
        load_model(path)
    # asked for knowingly, the bare model works in normalized units: wrong in physical ones
    bare = FNO.from_checkpoint(path, normalized=True)
    with torch.no_grad():
        raw = float(LpLoss()(bare(test.x), test.y))
        norms = load_normalizers(read_checkpoint(path))
        manual = norms["y"].decode(bare(norms["x"].encode(test.x)))
    assert raw > 10 * float(LpLoss()(manual, test.y))
    torch.testing.assert_close(manual, Predictor.from_checkpoint(path).predict(test.x))


def test_checkpoint_without_normalizers_loads_bare(tmp_path):
    x = torch.rand(8, 1, 16)
    trainer = Trainer(
        FNO(1, 1, modes=4, width=8, n_layers=1),
        TrainerConfig(epochs=1, batch_size=4, normalize=False, progress="off", device="cpu"),
    )
    trainer.fit(TensorFieldDataset(x, 2 * x))
    path = trainer.save_checkpoint(tmp_path / "plain.pt")
    model = FNO.from_checkpoint(path)  # nothing to apply: the bare model is physical
    predictor = Predictor.from_checkpoint(path)
    assert predictor.normalizers == {"x": None, "y": None}
    with torch.no_grad():
        torch.testing.assert_close(predictor.predict(x), model(x))
