"""Vector-Jacobian products of traced arrays (reverse mode), FFTs kept structured.

The cotangent flows from the outputs back to the inputs, node by node:

* ``Linear`` nodes apply their transposed matrices;
* ``Map`` nodes multiply by their partial derivatives;
* ``FFT`` nodes apply their adjoint, itself an FFT: the adjoint of ``fftn`` is
  ``ifftn`` with the normalization swapped (``"backward"`` <-> ``"forward"``), that of
  ``rfftn`` an ``ifftn`` of the zero-padded half spectrum, and that of ``irfftn`` an
  ``rfftn`` weighted by each frequency's multiplicity in the Hermitian extension (2,
  but 1 for the zero and Nyquist frequencies); numpy's cropping or zero-padding to
  ``s`` becomes the transposed padding or cropping.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import ShapeError
from pdeflow.symbolic.arrays import (
    FFT,
    ArraySym,
    ArrayTerm,
    Linear,
    Map,
    array_const,
    array_nodes,
    elementwise,
    fft_node,
    gather,
    linear,
    placeholders_in,
)
from pdeflow.symbolic.calculus import Differentiator, derivative_template
from pdeflow.symbolic.terms import NEG_ONE, Num, Sym, mul, placeholder
from pdeflow.symbolic.tracing import SymArray

_SWAP_NORM = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _fit(x: ArrayTerm, shape) -> ArrayTerm:
    """``x`` cropped (keeping the first entries) or zero-padded at the end to ``shape``."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    idx = np.arange(1, x.size + 1, dtype=np.int64).reshape(x.shape)
    out = np.zeros(shape, dtype=np.int64)
    common = tuple(slice(0, min(a, b)) for a, b in zip(x.shape, shape, strict=True))
    out[common] = idx[common]
    return gather([x], out)


def _scale(x: ArrayTerm, weights: np.ndarray) -> ArrayTerm:
    return elementwise(mul(placeholder(0), placeholder(1)), [x, array_const(weights)], x.shape)


def _neg(x: ArrayTerm) -> ArrayTerm:
    return elementwise(mul(NEG_ONE, placeholder(0)), [x], x.shape)


def _fft_parts(kind, x, axes, s, norm):
    """``(re, im)`` nodes of ``numpy.fft.<kind>`` of the real array ``x``."""
    return (fft_node(kind, (x,), axes, s, norm, "re"), fft_node(kind, (x,), axes, s, norm, "im"))


def _multiplicity(node: FFT) -> np.ndarray:
    """Weights of the half spectrum of ``irfftn`` (broadcast to its input shape)."""
    n = node.s[-1]
    m = n // 2 + 1
    w = np.full(m, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    shape = [1] * len(node.shape)
    shape[node.axes[-1]] = m
    half = list(node.shape)
    half[node.axes[-1]] = m
    return np.broadcast_to(w.reshape(shape), half)


def fft_adjoint(node: FFT, a: ArrayTerm) -> list:
    """Cotangents of ``node``'s arguments given the cotangent ``a`` of its output."""
    in_shape = node.args[0].shape
    norm = _SWAP_NORM[node.norm]
    if node.kind in ("fftn", "ifftn"):
        inv = "ifftn" if node.kind == "fftn" else "fftn"
        re, im = _fft_parts(inv, a, node.axes, node.s, norm)
        if node.part == "im":  # T^H (i a) = i T^H a
            re, im = _neg(im), re
        parts = [_fit(re, in_shape), _fit(im, in_shape)]
    elif node.kind == "rfftn":
        full = list(node.shape)
        full[node.axes[-1]] = node.s[-1]
        re, im = _fft_parts("ifftn", _fit(a, full), node.axes, node.s, norm)
        parts = [_fit(re if node.part == "re" else _neg(im), in_shape)]
    else:  # irfftn: a real output
        re, im = _fft_parts("rfftn", a, node.axes, node.s, norm)
        w = _multiplicity(node)
        parts = [_fit(_scale(re, w), in_shape), _fit(_scale(im, w), in_shape)]
    return parts[: len(node.args)]


def _as_term(c, shape) -> ArrayTerm:
    if isinstance(c, SymArray):
        t = c.term
    elif isinstance(c, ArrayTerm):
        t = c
    else:
        t = array_const(np.broadcast_to(np.asarray(c, dtype=float), shape))
    if t.shape != tuple(shape):
        raise ShapeError(f"vjp: cotangent of shape {t.shape} for an output of shape {shape}")
    return t


def _total(parts: list, shape) -> ArrayTerm:
    if len(parts) == 1:
        return parts[0]
    size = int(np.prod(shape, dtype=np.int64))
    eye = sp.identity(size, format="csr")
    return linear(shape, [(p, eye) for p in parts])


def _map_adjoint(node: Map, a: ArrayTerm, adj: dict, scalar_adj: dict) -> None:
    n = len(node.args)
    used = placeholders_in(node.template)
    for i, arg in enumerate(node.args):
        if i not in used:
            continue
        dt = derivative_template(node.template, i)
        if type(dt) is Num and dt.value == 0:
            continue
        adj.setdefault(arg, []).append(
            elementwise(mul(dt, placeholder(n)), [*node.args, a], node.shape))
    for s in node.template.free_symbols & scalar_adj.keys():
        d = Differentiator(s)(node.template)
        if type(d) is Num and d.value == 0:
            continue
        per_elem = elementwise(mul(d, placeholder(n)), [*node.args, a], node.shape)
        ones = sp.csr_matrix(np.ones((1, node.size)))
        scalar_adj[s].append(linear((), [(per_elem, ones)]))


def vjp(outputs, vars, cotangents):
    """Vector-Jacobian product ``w^T J`` as traced arrays (reverse mode, structured).

    Parameters
    ----------
    outputs : SymArray or list of SymArray
    vars : SymArray, Sym, or a list of them
        Variables (reshapes/permutations of traced inputs are accepted).
    cotangents : SymArray, ndarray or number, or a list aligned with ``outputs``
        Shaped like each output (``array("w", shape)`` for a symbolic one).

    Returns
    -------
    SymArray or list of SymArray
        Shaped like ``vars`` (a 0-d array for a scalar symbol).

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import array, evaluate, vjp
    >>> u = array("u", (4,))
    >>> g = vjp(np.fft.irfft(1j * np.arange(3.0) * np.fft.rfft(u), 4), u, np.ones(4))
    >>> evaluate(g, {u: np.arange(4.0)})
    array([0., 0., 0., 0.])
    """
    from pdeflow.symbolic.jacobian import outputs_as_arrays, variable_permutation

    single_out = isinstance(outputs, SymArray | ArrayTerm)
    roots = outputs_as_arrays(outputs)
    cots = [cotangents] if single_out else list(cotangents)
    if len(cots) != len(roots):
        raise ShapeError(f"vjp: {len(roots)} outputs but {len(cots)} cotangents")
    single_var = not isinstance(vars, list | tuple)
    vlist = [vars] if single_var else list(vars)
    scalar_adj: dict = {v: [] for v in vlist if isinstance(v, Sym)}
    adj: dict = {}
    for r, c in zip(roots, cots, strict=True):
        adj.setdefault(r, []).append(_as_term(c, r.shape))
    final: dict = {}
    for node in reversed(array_nodes(roots)):
        parts = adj.pop(node, None)
        if not parts:
            continue
        a = _total(parts, node.shape)
        tn = type(node)
        if tn is ArraySym:
            final[node] = a
        elif tn is Linear:
            for arg, b in zip(node.args, node.blocks, strict=True):
                adj.setdefault(arg, []).append(linear(arg.shape, [(a, sp.csr_matrix(b.T))]))
        elif tn is Map:
            _map_adjoint(node, a, adj, scalar_adj)
        elif tn is FFT:
            for arg, g in zip(node.args, fft_adjoint(node, a), strict=True):
                adj.setdefault(arg, []).append(g)
    res = []
    for v in vlist:
        if isinstance(v, Sym):
            parts = scalar_adj[v]
            res.append(SymArray(_total(parts, ()) if parts else array_const(np.zeros(()))))
            continue
        node, src, order = variable_permutation(v, "vjp")
        g = final.get(src)
        if g is None:
            res.append(SymArray(array_const(np.zeros(node.shape))))
        else:
            res.append(SymArray(gather([g], (order + 1).reshape(node.shape))))
    return res[0] if single_var else res


__all__ = ["vjp", "fft_adjoint"]
