"""A picture of one sample of a generated dataset (``pdeflow dataset show``).

One panel per field and channel: a 1-D field is a line plot over its coordinate (a 1-D
field in time, ``(t, x)``, one line per stored time); a 2-D field is an image over its two
coordinates with a colour bar (a 2-D field in time, ``(t, x, y)``, one image per stored time,
at most ``max_times`` of them, evenly spaced and always including the last).  The title names
the family, the sample, its per-sample parameters, the family options and how it was solved.
Rendering uses matplotlib's Agg canvas (no display needed, no global pyplot state).

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from pdeflow.datagen.storage import DatasetWriter
>>> from pdeflow.datagen import families
>>> d = Path(tempfile.mkdtemp())
>>> fam = families.get("darcy", resolution=8)
>>> with DatasetWriter.create(d / "d.h5", fam, 1, config={}, seed=0) as w:
...     _ = w.write(fam.solve([0]))
>>> show_sample(d / "d.h5", 0, d / "s.png").stat().st_size > 0
True
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pdeflow.errors import ConfigError, DataError

from .storage import attr_value, open_checked, read_attrs, refuse_ragged

__all__ = ["SamplePanel", "sample_panels", "show_sample"]

_PANEL_INCHES = (4.2, 3.4)


@dataclass(frozen=True)
class SamplePanel:
    """What one panel draws.

    Attributes
    ----------
    title : str
        Field name, role, and the time for a time slice (``"u (output), t = 0.5"``).
    values : ndarray, shape (s,), (nt, s) or (s1, s2)
        1-D: one line, or one line per row (``labels``); 2-D: an image indexed
        ``[i, j] = (coord 0 [i], coord 1 [j])``.
    coords : tuple of ndarray
        The coordinate of each spatial axis.
    axes : tuple of str
        Their names (axis labels).
    labels : tuple of str
        Line labels of a 1-D field in time (``"t = 0.1"``), else empty.
    """

    title: str
    values: np.ndarray
    coords: tuple[np.ndarray, ...]
    axes: tuple[str, ...]
    labels: tuple[str, ...] = ()


def sample_panels(path: str | os.PathLike, index: int, *, max_times: int = 6
                  ) -> tuple[list[SamplePanel], str]:
    """The panels and the title of sample ``index``, read from the file.

    Parameters
    ----------
    path
        A pdeflow dataset.
    index
        Sample index, ``0 <= index < n_samples``; the sample must be done.
    max_times
        Most time slices shown per field in time.

    Returns
    -------
    panels : list of SamplePanel
    title : str

    Raises
    ------
    ConfigError
        ``index`` out of range.
    DataError
        Unreadable file, or the sample is not written yet.
    """
    with open_checked(path, "r") as f:
        refuse_ragged(f, "shown as image panels")
        attrs = read_attrs(f)
        n = int(attrs["n_samples"])
        if not isinstance(index, int | np.integer) or not 0 <= int(index) < n:
            raise ConfigError(f"Sample {index!r} is out of range: {str(path)!r} has samples "
                              f"0-{n - 1}.")
        i = int(index)
        if not f["done"][i]:
            raise DataError(f"Sample {i} of {str(path)!r} is not written yet; complete the "
                            "file with 'pdeflow generate ... --resume' first.")
        coords = {axis: ds[...] for axis, ds in f["coords"].items()}
        panels = []
        for name, ds in f["fields"].items():
            axes = tuple(json.loads(attr_value(ds.attrs["axes"])))
            role = attr_value(ds.attrs.get("role", ""))
            panels.extend(_field_panels(name, role, ds[i], axes, coords, max_times))
        params = {k: float(v[i]) for k, v in f["params"].items()} if "params" in f else {}
        stats = f["stats"]
        method = attr_value(stats["method"][i]) if "method" in stats else ""
        iterations = float(stats["iterations"][i]) if "iterations" in stats else float("nan")
        residual = float(stats["residual"][i]) if "residual" in stats else float("nan")
    return panels, _title(attrs, i, params, method, iterations, residual)


def _field_panels(name: str, role: str, values: np.ndarray, axes: tuple[str, ...],
                  coords: dict[str, np.ndarray], max_times: int) -> list[SamplePanel]:
    values = np.asarray(values, dtype=float)
    head = f"{name} ({role})" if role else name

    def coord(axis: str, size: int) -> np.ndarray:
        c = coords.get(axis)
        return c if c is not None and c.shape == (size,) else np.arange(size, dtype=float)

    timed = len(axes) > 1 and axes[0] == "t"
    space_axes = axes[1:] if timed else axes
    space = tuple(coord(a, s) for a, s in zip(space_axes, values.shape[timed:], strict=True))
    if not timed:
        return [SamplePanel(head, values, space, space_axes)]
    t = coord("t", values.shape[0])
    if len(space_axes) == 1:  # (t, x): one line per time, all in one panel
        picks = _pick_times(len(t), max_times)
        return [SamplePanel(head, values[picks], space, space_axes,
                            tuple(f"t = {t[k]:.3g}" for k in picks))]
    return [SamplePanel(f"{head}, t = {t[k]:.3g}", values[k], space, space_axes)
            for k in _pick_times(len(t), max_times)]


def _pick_times(nt: int, most: int) -> list[int]:
    """At most ``most`` evenly spaced time indices, the last one always included."""
    if nt <= most:
        return list(range(nt))
    return sorted({int(round(k)) for k in np.linspace(nt - 1, 0, most)})


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _title(attrs: dict[str, Any], i: int, params: dict[str, float], method: str,
           iterations: float, residual: float) -> str:
    options = attrs.get("family_options") or {}
    first = f"{attrs.get('family', '?')}, sample {i} of {attrs.get('n_samples')}"
    if params:
        first += ": " + ", ".join(f"{k} = {_fmt(v)}" for k, v in params.items())
    lines = [first]
    if options:
        lines.append(", ".join(f"{k}={_fmt(v)}" for k, v in options.items()))
    solved = f"solved by {method}" if method else "solved"
    if np.isfinite(iterations):
        solved += f", {iterations:.0f} iterations"
    if np.isfinite(residual):
        solved += f", residual {residual:.1e}"
    lines.append(solved)
    return "\n".join(lines)


def draw(panels: list[SamplePanel], title: str, *, columns: int = 3) -> Any:
    """A :class:`matplotlib.figure.Figure` of the panels (no pyplot, no display)."""
    from matplotlib.figure import Figure

    ncols = max(1, min(columns, len(panels)))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(_PANEL_INCHES[0] * ncols, _PANEL_INCHES[1] * nrows + 0.9),
                 layout="constrained")
    axs = fig.subplots(nrows, ncols, squeeze=False)
    for ax, p in zip(axs.ravel(), panels, strict=False):
        if p.values.ndim == 2 and len(p.coords) == 2:
            c0, c1 = p.coords
            im = ax.pcolormesh(c0, c1, p.values.T, shading="nearest", cmap="viridis")
            fig.colorbar(im, ax=ax)
            ax.set_xlabel(p.axes[0])
            ax.set_ylabel(p.axes[1])
            ax.set_aspect("equal")
        else:
            rows = p.values if p.values.ndim == 2 else p.values[None]
            for k, row in enumerate(rows):
                ax.plot(p.coords[0], row, label=p.labels[k] if p.labels else None)
            if p.labels:
                ax.legend(fontsize="small")
            ax.set_xlabel(p.axes[0])
            ax.grid(alpha=0.3)
        ax.set_title(p.title, fontsize="medium")
    for ax in axs.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize="medium")
    return fig


def show_sample(path: str | os.PathLike, index: int, out: str | os.PathLike | None = None,
                *, max_times: int = 6, dpi: int = 100) -> Path:
    """Write a PNG of sample ``index``'s fields.

    Parameters
    ----------
    path
        A pdeflow dataset.
    index
        The sample (must be done).
    out
        PNG to write; default ``<path stem>-sample<index>.png`` next to ``path``.
    max_times
        Most time slices shown per field in time.
    dpi
        Resolution of the PNG.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ConfigError
        ``index`` out of range, or ``out``'s folder does not exist.
    DataError
        Unreadable file, or the sample is not written yet.
    """
    path = Path(path)
    target = Path(out) if out is not None else path.with_name(f"{path.stem}-sample{index}.png")
    if not target.parent.is_dir():
        raise ConfigError(f"Cannot write {str(target)!r}: folder {str(target.parent)!r} does "
                          "not exist.")
    panels, title = sample_panels(path, index, max_times=max_times)
    draw(panels, title).savefig(target, dpi=dpi, format="png")
    return target
