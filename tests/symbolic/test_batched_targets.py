"""Issue #20 item 6: the jax and torch targets take batches, vmap, autograd and float32.

``compile(..., target="torch"|"jax")`` maps ``y`` of shape ``(..., n)`` to ``(..., m)``
with parameters shared ``(P,)`` or batched ``(..., P)``; it computes in the input's
dtype, writes nothing in place (``vmap``) and stays differentiable.  Checked on traced
array programs (Gray-Scott, Brusselator, spectral Burgers) and on scalar reaction systems
(lifted and straight-line).
"""

from __future__ import annotations

import numpy as np
import pytest

from pdeflow.errors import ShapeError
from pdeflow.symbolic import compile, exp, sym, trace

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

B = 5
N = 6  # grid side: small enough for gradcheck


def _lap(a):
    return np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1) - 4 * a


def gray_scott(t, y, p):
    u, v = y[0], y[1]
    uvv = u * v * v
    du = p[0] * _lap(u) - uvv + p[2] * (1 - u)
    dv = p[1] * _lap(v) + uvv - (p[2] + p[3]) * v
    return np.stack([du, dv])


def brusselator(t, y, p):
    """1-D Brusselator, zero-flux ends (edge padding)."""
    u, v = y[0], y[1]

    def lap(a):
        b = np.pad(a, 1, mode="edge")
        return b[:-2] - 2 * a + b[2:]

    u2v = u * u * v
    return np.stack([p[0] + u2v - (p[1] + 1) * u + p[2] * lap(u),
                     p[1] * u - u2v + p[3] * lap(v)])


K = np.fft.rfftfreq(16, 1.0 / 16)


def burgers(t, u, p):
    uh = np.fft.rfft(u)
    return -u * np.fft.irfft(1j * K * uh, 16) + p[0] * np.fft.irfft(-(K**2) * uh, 16)


CASES = {
    "gray_scott": (gray_scott, (2, N, N), [0.2, 0.1, 0.04, 0.06]),
    "brusselator": (brusselator, (2, 12), [1.0, 3.0, 0.02, 0.01]),
    "burgers_fft": (burgers, (16,), [0.07]),
}


def _traced(case):
    f, shape, p = CASES[case]
    y0 = np.random.default_rng(0).uniform(0.2, 1.0, shape)
    du, ins = trace(f, 0.0, y0, tuple(p), return_inputs=True)
    name = "u" if case == "burgers_fft" else "y"
    return du, [ins[name]], list(ins["p"]), int(np.prod(shape)), np.asarray(p)


def _reactions(straight: bool):
    """A scalar mass-action-like system with rate parameters and a time term."""
    a, b, c = sym("a"), sym("b"), sym("c")
    k1, k2, k3, t = sym("k1"), sym("k2"), sym("k3"), sym("t")
    r1, r2, r3 = k1 * a, k2 * b * b, k3 * b * c
    eqs = [-r1 + r3 + 0.1 * exp(-t), r1 - r2 - r3, r2]
    mode = "straight" if straight else "lift"
    return eqs, [a, b, c], [k1, k2, k3], 3, np.array([0.04, 3.0, 1.0]), mode


SYSTEMS = ["gray_scott", "brusselator", "burgers_fft", "reactions_lift", "reactions_straight"]


def _compile(system: str, target: str):
    if system.startswith("reactions"):
        eqs, ins, pars, n, p, mode = _reactions(system.endswith("straight"))
        return compile(eqs, ins, params=pars, target=target, scalar_mode=mode), n, p
    du, ins, pars, n, p = _traced(system)
    return compile(du, ins, params=pars, target=target), n, p


@pytest.fixture(scope="module", params=[(s, tg) for s in SYSTEMS for tg in ("torch", "jax")],
                ids=lambda v: f"{v[0]}-{v[1]}")
def compiled(request):
    system, target = request.param
    f, n, p = _compile(system, target)
    ys = np.random.default_rng(1).uniform(0.1, 1.0, (B, n))
    ps = p * np.random.default_rng(2).uniform(0.5, 1.5, (B, p.size))
    return target, f, ys, p, ps, system


def _arr(target, x, dtype=np.float64):
    x = np.asarray(x, dtype=dtype)
    return torch.from_numpy(x) if target == "torch" else jnp.asarray(x)


def _np(x):
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def test_batch_equals_single_calls(compiled):
    target, f, ys, p, ps, system = compiled
    out = f(_arr(target, ys), _arr(target, p), 0.3)
    assert tuple(out.shape) == (B, f.n_out)
    single = np.stack([_np(f(_arr(target, y), _arr(target, p), 0.3)) for y in ys])
    np.testing.assert_allclose(_np(out), single, rtol=1e-12, atol=1e-12)
    # and each row is what the (unbatched) numpy target computes
    g = _compile(system, "numpy")[0]
    np.testing.assert_allclose(_np(out), np.stack([g(y, p, 0.3) for y in ys]), rtol=1e-12,
                               atol=1e-12)


def test_batched_params_broadcast(compiled):
    target, f, ys, p, ps, _ = compiled
    out = _np(f(_arr(target, ys), _arr(target, ps), 0.3))
    single = np.stack([_np(f(_arr(target, y), _arr(target, q), 0.3))
                       for y, q in zip(ys, ps, strict=True)])
    np.testing.assert_allclose(out, single, rtol=1e-12, atol=1e-12)
    # one state, a batch of parameters; and two leading batch axes
    one = _np(f(_arr(target, ys[0]), _arr(target, ps), 0.3))
    np.testing.assert_allclose(one, np.stack([_np(f(_arr(target, ys[0]), _arr(target, q), 0.3))
                                              for q in ps]), rtol=1e-12, atol=1e-12)
    two = _np(f(_arr(target, np.stack([ys, ys[::-1]])), _arr(target, p), 0.3))
    assert two.shape == (2, B, f.n_out)
    np.testing.assert_allclose(two[1], single_shared(f, target, ys[::-1], p), rtol=1e-12)


def single_shared(f, target, ys, p):
    return np.stack([_np(f(_arr(target, y), _arr(target, p), 0.3)) for y in ys])


def test_float32_stays_float32(compiled):
    target, f, ys, p, ps, _ = compiled
    out32 = f(_arr(target, ys, np.float32), _arr(target, ps, np.float32), 0.3)
    out64 = _np(f(_arr(target, ys), _arr(target, ps), 0.3))
    assert str(out32.dtype).endswith("float32")
    # float64 parameters with a float32 state: the state's dtype wins
    mixed = f(_arr(target, ys, np.float32), _arr(target, ps), np.float64(0.3))
    assert str(mixed.dtype).endswith("float32")
    scale = np.abs(out64).max()
    np.testing.assert_allclose(_np(out32), out64, rtol=1e-5, atol=1e-5 * scale)


def test_vmap_equals_batched_call(compiled):
    target, f, ys, p, ps, _ = compiled
    Y, P = _arr(target, ys), _arr(target, ps)
    want = _np(f(Y, P, 0.3))
    if target == "torch":
        got = torch.func.vmap(lambda y, q: f(y, q, 0.3))(Y, P)
        shared = torch.func.vmap(lambda y: f(y, _arr(target, p), 0.3))(Y)
    else:
        got = jax.vmap(lambda y, q: f(y, q, 0.3))(Y, P)
        shared = jax.vmap(lambda y: f(y, _arr(target, p), 0.3))(Y)
    np.testing.assert_allclose(_np(got), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(shared), single_shared(f, target, ys, p), rtol=1e-12,
                               atol=1e-12)


def test_gradients(compiled):
    target, f, ys, p, ps, _ = compiled
    if target == "torch":
        y = torch.tensor(ys[:2], requires_grad=True)
        q = torch.tensor(ps[:2], requires_grad=True)
        assert torch.autograd.gradcheck(lambda y, q: f(y, q, 0.3), (y, q))
    else:
        # reverse mode against central differences in a random direction
        y, q = jnp.asarray(ys[:2]), jnp.asarray(ps[:2])
        w = jnp.asarray(np.random.default_rng(3).normal(size=(2, f.n_out)))
        loss = lambda y, q: jnp.sum(w * f(y, q, 0.3))  # noqa: E731
        gy, gq = jax.grad(loss, argnums=(0, 1))(y, q)
        dy = jnp.asarray(np.random.default_rng(4).normal(size=y.shape))
        h = 1e-6
        fd = (loss(y + h * dy, q) - loss(y - h * dy, q)) / (2 * h)
        np.testing.assert_allclose(float(jnp.sum(gy * dy)), float(fd), rtol=1e-6, atol=1e-8)
        assert gq.shape == q.shape


def test_torch_output_is_a_new_tensor():
    f, n, p = _compile("gray_scott", "torch")
    y = torch.rand(3, n, dtype=torch.float64)
    out = f(y, torch.as_tensor(p))
    out += 1.0  # the caller may write into the result: it shares no memory with y
    np.testing.assert_allclose(_np(f(y, torch.as_tensor(p))), _np(out) - 1.0, rtol=1e-12)


@pytest.mark.parametrize("target", ["torch", "jax"])
def test_wrong_last_axis_is_one_line_shape_error(target):
    f, n, p = _compile("brusselator", target)
    with pytest.raises(ShapeError, match=rf"^y has {n + 1} entries .*takes {n}$"):
        f(_arr(target, np.zeros((B, n + 1))), _arr(target, p))
    with pytest.raises(ShapeError, match=rf"^p has {p.size - 1} entries .*takes {p.size}$"):
        f(_arr(target, np.zeros((B, n))), _arr(target, p[:-1]))
    with pytest.raises(ShapeError, match="do not broadcast"):
        f(_arr(target, np.zeros((B, n))), _arr(target, np.ones((B + 1, p.size))))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_on_gpu_follows_the_input():
    f, n, p = _compile("gray_scott", "torch")
    ys = np.random.default_rng(1).uniform(0.1, 1.0, (B, n))
    for dtype in (torch.float64, torch.float32):
        y = torch.tensor(ys, dtype=dtype, device="cuda")
        out = f(y, torch.tensor(p, device="cuda"), 0.0)
        assert out.device.type == "cuda" and out.dtype == dtype
        want = _np(f(torch.tensor(ys), torch.tensor(p), 0.0))
        np.testing.assert_allclose(_np(out), want, rtol=1e-5 if dtype == torch.float32 else 1e-12,
                                   atol=1e-6)
