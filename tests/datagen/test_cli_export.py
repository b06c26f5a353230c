"""`pdeflow dataset export` (netCDF, Zarr via xarray) and `dataset show` (#28 item 16)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np
import pytest
import xarray as xr

from pdeflow.cli import main
from pdeflow.datagen import FieldSpec, families
from pdeflow.datagen.export import export_dataset
from pdeflow.datagen.show import draw, sample_panels, show_sample
from pdeflow.datagen.storage import DatasetWriter
from pdeflow.errors import ConfigError, DataError


@dataclass(frozen=True)
class Wave(families.PointwiseFamily):
    """A 1-D family with a per-sample parameter and a field in time (``(t, x)``)."""

    resolution: int = 12
    seed: int = 0
    name: ClassVar[str] = "wave-test"

    def fields(self):
        s = self.resolution
        return {"u0": FieldSpec("u0", (s,), "input", ("x",), "initial value"),
                "u": FieldSpec("u", (3, s), "output", ("t", "x"), "u at t = 1, 2, 3")}

    def coords(self):
        return {"x": np.linspace(0.0, 1.0, self.resolution), "t": np.array([1.0, 2.0, 3.0])}

    def param_names(self):
        return ("k",)

    def sample(self, i):
        rng = self.rng(i)
        return {"u0": rng.random(self.resolution), "k": float(rng.uniform(0.5, 2.0))}

    def solve_one(self, sample):
        t = np.array([1.0, 2.0, 3.0])[:, None]
        return {"u": sample["u0"][None, :] * np.exp(-sample["k"] * t)}, {"iterations": 3}


def write(path: Path, fam, n: int, done: list[int]) -> Path:
    with DatasetWriter.create(path, fam, n, config={"family": fam.name, "n": n}, seed=0) as w:
        w.write(fam.solve(done))
    return path


@pytest.fixture(scope="module")
def heat_file(tmp_path_factory) -> Path:
    """A partial heat dataset: samples 0, 1 and 3 of 4 done, fields (x, y) and (t, x, y)."""
    fam = families.get("heat", resolution=8, n_steps=6, n_snapshots=3)
    return write(tmp_path_factory.mktemp("heat") / "heat.h5", fam, 4, [0, 1, 3])


def assert_matches_hdf5(x: xr.Dataset, h5: Path) -> None:
    with h5py.File(h5, "r") as f:
        done = f["done"][...].astype(bool)
        np.testing.assert_array_equal(x["done"].values, done.astype(np.int8))
        for name, ds in f["fields"].items():
            axes = json.loads(ds.attrs["axes"])
            assert x[name].dims == ("sample", *axes)
            assert x[name].dtype == ds.dtype
            np.testing.assert_array_equal(x[name].values[done], ds[...][done])
            assert np.isnan(x[name].values[~done]).all()
            assert x[name].attrs["role"] == ds.attrs["role"]
        for axis, ds in f["coords"].items():
            np.testing.assert_array_equal(x[axis].values, ds[...])
        np.testing.assert_array_equal(x["iterations"].values, f["stats/iterations"][...])
        np.testing.assert_array_equal(x["solve_time"].values, f["stats/time"][...])
        np.testing.assert_array_equal(x["write_count"].values, f["write_count"][...])
        want_method = [m.decode() for m in f["stats/method"][...]]
        assert list(x["method"].values) == want_method
        assert x.attrs["family"] == f.attrs["family"]
        assert json.loads(x.attrs["family_options"]) == json.loads(f.attrs["family_options"])
        assert json.loads(x.attrs["config"]) == json.loads(f.attrs["config"])
        assert x.attrs["status"] == "partial"


# ------------------------------------------------------------------ export
def test_netcdf_export_round_trips_the_hdf5_values(heat_file, tmp_path):
    out = export_dataset(heat_file, tmp_path / "heat.nc", "netcdf")
    with xr.open_dataset(out, engine="h5netcdf") as x:
        assert dict(x.sizes) == {"sample": 4, "x": 8, "y": 8, "t": 3}
        assert_matches_hdf5(x, heat_file)


def test_zarr_export_round_trips_the_hdf5_values(heat_file, tmp_path):
    out = export_dataset(heat_file, tmp_path / "heat.zarr", "zarr")
    with xr.open_zarr(out) as x:
        assert_matches_hdf5(x, heat_file)


def test_export_keeps_per_sample_parameters(tmp_path):
    h5 = write(tmp_path / "w.h5", Wave(), 3, [0, 1, 2])
    out = export_dataset(h5, format="netcdf")
    assert out == tmp_path / "w.nc"
    with xr.open_dataset(out, engine="h5netcdf") as x, h5py.File(h5, "r") as f:
        np.testing.assert_array_equal(x["param_k"].values, f["params/k"][...])
        assert x["u"].dims == ("sample", "t", "x")
        np.testing.assert_array_equal(x["u"].values, f["fields/u"][...])


def test_cli_export_refuses_to_clobber(heat_file, tmp_path, capsys):
    out = tmp_path / "e.zarr"
    args = ["dataset", "export", str(heat_file), "--format", "zarr", "--out", str(out)]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out} (zarr)"
    assert main(args) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    with xr.open_zarr(out) as x:
        assert_matches_hdf5(x, heat_file)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert main(["dataset", "export", str(heat_file), "--out", str(notes), "--overwrite"]) == 2
    assert "is not a netcdf export" in capsys.readouterr().err
    assert notes.read_text() == "mine"
    assert main(["dataset", "export", str(heat_file), "--format", "csv"]) == 2
    assert not list(tmp_path.glob(".*tmp*"))


# ------------------------------------------------------------------ show
def test_show_panels_hold_the_sample_and_the_image_is_not_transposed(heat_file):
    panels, title = sample_panels(heat_file, 3)
    assert [p.title for p in panels] == [
        "u0 (input)", "kappa (input)", "u (output), t = 0.333", "u (output), t = 0.667",
        "u (output), t = 1"]
    assert title.startswith("heat, sample 3 of 4\n") and "n_snapshots=3" in title
    with h5py.File(heat_file, "r") as f:
        np.testing.assert_array_equal(panels[0].values, f["fields/u0"][3])
        np.testing.assert_array_equal(panels[4].values, f["fields/u"][3, 2])
        np.testing.assert_array_equal(panels[0].coords[0], f["coords/x"][...])
    fig = draw(panels, title)
    mesh = fig.axes[0].collections[0]
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(8, 8),
                                  panels[0].values.T)  # rows are y: [i, j] = (x_i, y_j)
    assert fig.axes[0].get_xlabel() == "x" and fig.axes[0].get_ylabel() == "y"


def test_show_1d_fields_are_lines_one_per_time(tmp_path):
    h5 = write(tmp_path / "w.h5", Wave(), 2, [0, 1])
    panels, title = sample_panels(h5, 1)
    assert "k = " in title.splitlines()[0]
    assert [p.labels for p in panels] == [(), ("t = 1", "t = 2", "t = 3")]
    fig = draw(panels, title)
    lines = fig.axes[1].get_lines()
    assert len(lines) == 3
    with h5py.File(h5, "r") as f:
        np.testing.assert_array_equal(lines[2].get_ydata(), f["fields/u"][1, 2])
        np.testing.assert_array_equal(lines[2].get_xdata(), f["coords/x"][...])


def test_show_writes_a_png_and_refuses_missing_samples(heat_file, tmp_path, capsys):
    out = tmp_path / "s.png"
    assert main(["dataset", "show", str(heat_file), "--sample", "1", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    h, w, _ = imread(out).shape
    assert w > 1000 and h > 500  # 3 columns x 2 rows of panels
    with pytest.raises(DataError, match="Sample 2 .* is not written yet"):
        show_sample(heat_file, 2, tmp_path / "x.png")
    with pytest.raises(ConfigError, match="out of range"):
        show_sample(heat_file, 4, tmp_path / "x.png")
    capsys.readouterr()
    assert main(["dataset", "show", str(heat_file), "--sample", "9"]) == 2
    assert capsys.readouterr().err.startswith("error: Sample 9 is out of range")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("name", ["pdeflow.datagen.export", "pdeflow.datagen.show",
                                  "pdeflow.datagen.catalog"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
