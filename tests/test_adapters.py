import numpy as np
import pytest
import torch

from gapkit.adapters import ADAPTERS, create_adapter
from gapkit.errors import GapkitError, UnknownNameError

D = 16


def _paired(rng, n=400):
    img = rng.standard_normal((n, D)) + 2.0
    txt = img + rng.standard_normal((n, D)) * 0.5 - 2.0
    return img, txt


def _unit(x):
    x = torch.as_tensor(x, dtype=torch.float32)
    return x / x.norm(dim=1, keepdim=True)


PARAMS = {
    "none": {},
    "noise": {"noise": 0.1},
    "mean-shift": {"noise": 0.1},
    "random-shift": {"noise": 0.1},
    "linear": {"noise": 0.1},
    "cov": {"noise": 0.1},
    "c3": {"noise": 0.1},
    "decap": {},
    "nearest-caption": {},
}


def _fitted(name, img, txt, **kw):
    """An adapter fitted on what it needs: paired rows, or the same rows as unpaired samples."""
    ad = create_adapter(name, **kw).fit(img, txt)
    return ad.fit_unpaired(img, txt) if ad.needs_unpaired else ad


@pytest.mark.parametrize("name", ADAPTERS.names())
def test_contract(name, rng):
    img, txt = _paired(rng)
    t = _unit(txt[:32])
    make = lambda: _fitted(name, img, txt, seed=7, **PARAMS[name])
    a, b = make(), make()
    a.train(), b.train()
    out_a, out_b = a(t), b(t)
    assert out_a.shape == t.shape
    assert torch.allclose(out_a.norm(dim=1), torch.ones(32), atol=1e-5)
    assert torch.equal(out_a, out_b)  # same seed, same noise
    a.eval()
    assert torch.equal(a(t), t)  # eval mode is the identity


def test_noise_is_drawn_fresh_each_call_and_differs_by_seed(rng):
    t = _unit(rng.standard_normal((8, D)))
    a = create_adapter("noise", noise=0.2, seed=0).train()
    first, second = a(t), a(t)
    assert not torch.equal(first, second)
    c = create_adapter("noise", noise=0.2, seed=1).train()
    assert not torch.equal(create_adapter("noise", noise=0.2, seed=0).train()(t), c(t))


def test_noise_magnitude_matches_expectation():
    # cos(t, n(t + w eps)) ~ 1 / sqrt(1 + w^2 d) for large d
    d, w = 768, 0.08
    t = torch.nn.functional.normalize(
        torch.randn(2000, d, generator=torch.Generator().manual_seed(123)), dim=1
    )
    a = create_adapter("noise", noise=w).train()
    cos = (a(t) * t).sum(1).mean().item()
    assert cos == pytest.approx(1 / np.sqrt(1 + w * w * d), abs=0.01)
    assert a.noise_norm(d) == pytest.approx(w * np.sqrt(d))


def test_mean_shift_moves_text_towards_images(rng):
    img, txt = _paired(rng)
    a = create_adapter("mean-shift", scale=1.0).fit(img, txt).train()
    x, y = _unit(img), _unit(txt)
    before = (x * y).sum(1).mean()
    after = (x * a(y)).sum(1).mean()
    away = (x * create_adapter("mean-shift", scale=-1.0).fit(img, txt).train()(y)).sum(1).mean()
    assert after > before > away


def test_random_shift_direction_is_seeded_and_has_the_magnitude(rng):
    a = create_adapter("random-shift", magnitude=0.5, direction_seed=3, dim=D)
    b = create_adapter("random-shift", magnitude=0.5, direction_seed=3, dim=D)
    c = create_adapter("random-shift", magnitude=0.5, direction_seed=4, dim=D)
    assert torch.equal(a.shift, b.shift) and not torch.equal(a.shift, c.shift)
    assert a.shift.norm().item() == pytest.approx(0.5, abs=1e-6)


def test_random_shift_direction_defaults_to_the_run_seed_as_measure_does():
    """One rule for train and measure: a run with seed s shifts along the first random direction
    that `gapkit measure --seed s` reports (stats.standard_shifts: seeds s, s + 1, s + 2)."""
    from gapkit.stats.shift import standard_shifts

    a = create_adapter("random-shift", magnitude=1.0, seed=5, dim=D)
    measured = [
        s for s in standard_shifts(np.zeros(D), magnitudes=(1.0,), seeds=(5, 6, 7)) if s.name == "random"
    ]
    assert a.direction_seed == 5
    assert np.allclose(a.shift.numpy(), measured[0].vector, atol=1e-6)
    assert create_adapter("random-shift", seed=5, direction_seed=0, dim=D).direction_seed == 0


def test_linear_and_cov_fit_and_save(rng, tmp_path):
    img, txt = _paired(rng)
    lin = create_adapter("linear").fit(img, txt).train()
    x, y = _unit(img), _unit(txt)
    assert (x * lin(y)).sum(1).mean() > 0.9
    lin.save(tmp_path / "lin.pt")
    again = create_adapter("linear").load(tmp_path / "lin.pt").train()
    assert torch.equal(again(y), lin(y))
    cov = create_adapter("cov", noise=0.0, seed=1).fit(img, txt)
    sigma = cov.chol @ cov.chol.T
    delta = _unit(img).numpy() - _unit(txt).numpy()
    assert np.allclose(sigma.numpy(), np.cov(delta.T, bias=True), atol=1e-4)


def test_unfitted_paired_adapter_refuses(rng):
    with pytest.raises(RuntimeError, match="before fit"):
        create_adapter("linear").train()(_unit(rng.standard_normal((2, D))))


def test_bad_names_and_params():
    with pytest.raises(UnknownNameError, match="Unknown adapter 'nosie'. Did you mean: noise"):
        create_adapter("nosie")
    with pytest.raises(GapkitError, match="Bad parameters for adapter 'noise'"):
        create_adapter("noise", scale=2)
    with pytest.raises(ValueError, match="noise must be"):
        create_adapter("noise", noise=-1)


def _eps(seed, shape):
    """The adapter's first standard-normal draw, computed independently of the adapter."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).numpy().astype(np.float64)


def _n(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize(
    "name, options",
    [("mean-shift", {"scale": 0.7}), ("random-shift", {"magnitude": 0.8, "direction_seed": 2})],
)
def test_shift_then_noise_then_renormalise_as_close(name, options, rng):
    """CLOSE's Shift / FixedRandomShift with renorm=False: n(t + v + w eps), not n(n(t + v) + w eps)."""
    img, txt = _paired(rng)
    t = _unit(txt[:5])
    w, seed = 0.3, 11
    a = create_adapter(name, noise=w, seed=seed, **options).fit(img, txt).train()
    assert a.renorm_before_noise is False
    v = (a.scale * a.shift if name == "mean-shift" else a.shift).numpy().astype(np.float64)
    eps = _eps(seed, (5, D))
    t64 = t.numpy().astype(np.float64)
    expected = _n(t64 + v + w * eps)
    assert np.allclose(a(t).numpy(), expected, atol=1e-5)
    # the named alternative (gapkit 0.1's order) is a different vector
    b = create_adapter(name, noise=w, seed=seed, renorm_before_noise=True, **options).fit(img, txt).train()
    other = _n(_n(t64 + v) + w * eps)
    assert np.allclose(b(t).numpy(), other, atol=1e-5)
    assert not np.allclose(expected, other, atol=1e-3)
    # without noise both orders give the same unit vector (the deterministic part MG is measured on)
    assert torch.allclose(a.deterministic(t), b.deterministic(t), atol=1e-6)


def test_linear_renormalises_before_the_noise_as_close(rng):
    """CLOSE's get_adapter builds LinearAdapter(..., renorm=True): n(n(t A^T + b) + w eps)."""
    img, txt = _paired(rng)
    t = _unit(txt[:4])
    a = create_adapter("linear", noise=0.2, seed=5).fit(img, txt).train()
    assert a.renorm_before_noise is True
    moved = t.numpy().astype(np.float64) @ a.weight.numpy().T.astype(np.float64) + a.bias.numpy()
    assert np.allclose(a(t).numpy(), _n(_n(moved) + 0.2 * _eps(5, (4, D))), atol=1e-5)


def test_cov_scale_defaults_to_closes_3(rng):
    img, txt = _paired(rng)
    t = _unit(txt[:6])
    a = create_adapter("cov", noise=0.1, seed=3).fit(img, txt).train()
    assert a.cov_scale == 3.0
    gen = torch.Generator().manual_seed(3)  # CLOSE's order: z ~ N(0, Sigma) first, then the isotropic noise
    z = torch.randn((6, D), generator=gen).numpy().astype(np.float64) @ a.chol.numpy().T.astype(np.float64)
    eps = torch.randn((6, D), generator=gen).numpy().astype(np.float64)
    expected = _n(t.numpy() + a.mean.numpy() + 3.0 * z + 0.1 * eps)
    assert np.allclose(a(t).numpy(), expected, atol=1e-5)
    assert create_adapter("cov", cov_scale=1.0).cov_scale == 1.0


def test_renorm_option_is_checked():
    from gapkit.adapters import check_adapter_options

    check_adapter_options("mean-shift", {"renorm_before_noise": True})
    with pytest.raises(GapkitError, match=r"renorm_before_noise must be true or false, got 'yes'"):
        check_adapter_options("random-shift", {"renorm_before_noise": "yes"})
    with pytest.raises(GapkitError, match="adapter 'noise' takes no options, got 'renorm_before_noise'"):
        check_adapter_options("noise", {"renorm_before_noise": True})


def test_registry_create_names_accepted_options_and_does_not_mask_inner_errors():
    from gapkit._registry import Registry

    reg = Registry("widget")

    @reg.register("plain")
    def plain(size: int = 1, colour: str = "red"):
        if size < 0:
            raise TypeError("an error from inside the widget")
        return (size, colour)

    assert reg.create("plain", size=2) == (2, "red")
    with pytest.raises(GapkitError, match=r"Bad parameters for widget 'plain'.*Accepted: size, colour"):
        reg.create("plain", sise=2)
    with pytest.raises(TypeError, match="from inside the widget"):  # not reported as a bad option
        reg.create("plain", size=-1)
