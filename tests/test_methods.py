"""The other ways to cross the gap, against closed forms and hand-computed cases: C3's collapse and
corrupt, DeCap's projection onto a memory of training texts, and the nearest-caption baseline;
and that a CLOSE run applies an adapter's test-time half to the images it decodes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gapkit.adapters import create_adapter

D = 16


def _unit(a):
    a = np.asarray(a, np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, np.float32))


@pytest.fixture
def clouds(rng):
    """Unpaired unit images and texts, each with its own offset (a gap)."""
    images = _unit(rng.standard_normal((50, D)) + 2.0 * np.eye(D)[0])
    texts = _unit(rng.standard_normal((70, D)) - 2.0 * np.eye(D)[0])
    return images, texts


def test_c3_collapse_centres_each_modality_on_its_own_mean(clouds):
    images, texts = clouds
    c3 = create_adapter("c3", noise=0.0).fit_unpaired(images, texts)
    centred = c3.transform(_t(texts)).numpy()  # before renormalisation
    assert np.abs(centred.mean(0)).max() < 1e-6
    assert np.allclose(c3.images(_t(images)).numpy(), _unit(images - images.mean(0)), atol=1e-5)
    # the training half without noise is n(t - mu_T); the images are never shifted towards the texts
    assert np.allclose(c3.deterministic(_t(texts)).numpy(), _unit(texts - texts.mean(0)), atol=1e-5)


def test_c3_corrupts_after_collapsing_then_renormalises(clouds):
    """C3's order: n(t - mu_T + w eps), the noise from the adapter's own seeded generator."""
    images, texts = clouds
    c3 = create_adapter("c3", noise=0.1, seed=3).fit_unpaired(images, texts).train()
    out = c3(_t(texts)).numpy()
    eps = torch.randn((len(texts), D), generator=torch.Generator().manual_seed(3)).numpy()
    assert np.allclose(out, _unit(texts - texts.mean(0) + 0.1 * eps), atol=1e-5)


def test_decap_at_temperature_towards_zero_is_the_nearest_caption(clouds, rng):
    images, texts = clouds
    decap = create_adapter("decap", temperature=1e-5).fit_unpaired(images, texts)
    nearest = create_adapter("nearest-caption").fit_unpaired(images, texts)
    assert np.allclose(decap.images(_t(images)).numpy(), nearest.images(_t(images)).numpy(), atol=1e-4)


def test_decap_projection_is_the_softmax_weighted_memory(clouds):
    images, texts = clouds
    decap = create_adapter("decap").fit_unpaired(images, texts)  # temperature 0.01, as published
    sims = _unit(images) @ _unit(texts).T
    w = np.exp((sims - sims.max(1, keepdims=True)) / 0.01)
    w /= w.sum(1, keepdims=True)
    assert np.allclose(decap.images(_t(images)).numpy(), _unit(w @ _unit(texts)), atol=1e-4)


def test_memory_of_the_test_captions_returns_each_images_best_caption(rng):
    """Memory = the test captions and temperature -> 0: each image gets its own caption back (each
    image is a noisy copy of its caption, closer to it than to any other)."""
    captions = _unit(rng.standard_normal((20, D)))
    images = _unit(captions + 0.05 * rng.standard_normal((20, D)))
    for name, opts in (("nearest-caption", {}), ("decap", {"temperature": 1e-5})):
        ad = create_adapter(name, **opts).fit_unpaired(images, captions)
        assert np.allclose(ad.images(_t(images)).numpy(), captions, atol=1e-4), name


def test_memory_size_is_a_seeded_sample_and_the_state_round_trips(clouds, tmp_path):
    images, texts = clouds
    a = create_adapter("decap", memory_size=10, seed=1).fit_unpaired(images, texts)
    b = create_adapter("decap", memory_size=10, seed=1).fit_unpaired(images, texts)
    c = create_adapter("decap", memory_size=10, seed=2).fit_unpaired(images, texts)
    assert (
        a.memory.shape == (10, D) and torch.equal(a.memory, b.memory) and not torch.equal(a.memory, c.memory)
    )
    a.save(tmp_path / "a.pt")
    again = create_adapter("decap", memory_size=10, seed=1).load(tmp_path / "a.pt")
    assert torch.equal(again.images(_t(images)), a.images(_t(images)))
    c3 = create_adapter("c3").fit_unpaired(images, texts)
    c3.save(tmp_path / "c3.pt")
    assert torch.equal(
        create_adapter("c3").load(tmp_path / "c3.pt").images(_t(images)), c3.images(_t(images))
    )


def test_an_unfitted_method_refuses_to_run():
    with pytest.raises(RuntimeError, match="before fit_unpaired"):
        create_adapter("decap").images(torch.zeros(2, D))
    with pytest.raises(RuntimeError, match="before fit_unpaired"):
        create_adapter("c3").images(torch.zeros(2, D))


@pytest.mark.parametrize("adapter", ["c3", "decap"])
def test_a_run_decodes_the_images_through_the_test_time_half(world_dir, tmp_path, monkeypatch, adapter):
    """Training fits the method on unpaired data and saves it; `gapkit eval` loads that state and
    decodes the images after the test-time half, not the raw images."""
    import gapkit.close.decode as decode
    from gapkit.cli.main import main
    from gapkit.close.config import CloseConfig
    from gapkit.close.prepare import prepare
    from gapkit.close.run import train_run

    cfg = CloseConfig.from_dict(
        dict(
            world=world_dir,
            encoder="gapkit-shapes:random-init",
            epochs=1,
            batch_size=32,
            beams=2,
            max_train_examples=60,
            max_eval_examples=5,
            adapter=adapter,
            decoder_options={"d_model": 32, "d_ff": 64, "num_heads": 2},
        )
    )
    train_run(cfg, tmp_path / "run")
    from gapkit.encoders import resolve_device

    prov = json.loads((tmp_path / "run" / "metrics.json").read_text())["provenance"]
    assert prov["device"] == str(resolve_device(None))  # the device the run used, not the machine's GPU
    assert "device" not in prov["environment"]
    fed = []
    real = decode._decode
    monkeypatch.setattr(
        decode, "_decode", lambda prep, vectors, *a: fed.append(vectors) or real(prep, vectors, *a)
    )
    assert main(["eval", str(tmp_path / "run"), "--split", "val"]) == 0
    raw = prepare(cfg, eval_splits=("val",), with_train=False).evals["val"].image_vectors
    saved = create_adapter(adapter).load(tmp_path / "run" / "adapter.pt")
    expected = saved.images(torch.from_numpy(raw)).numpy()
    assert np.allclose(fed[-1], expected, atol=1e-6)
    assert not np.allclose(fed[-1], raw, atol=1e-3)
    # the same fitted state measures the gap the run's decoder faced
    out = tmp_path / "gap.json"
    argv = [
        "measure",
        "--data-path",
        world_dir,
        "--split",
        "val",
        "--encoder",
        "gapkit-shapes:random-init",
        "--bootstrap",
        "0",
        "--no-retrieval",
        "--transform-from",
        str(tmp_path / "run"),
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    assert json.loads(out.read_text())["provenance"]["source"]["transform"]["adapter"] == adapter


FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real-clip" / "features_clip.npy"


@pytest.mark.skipif(not FIXTURE.is_file(), reason="real-CLIP fixture absent")
def test_measure_after_c3s_collapse_removes_the_offset_but_not_the_misalignment(tmp_path):
    """`gapkit measure --transform c3` on real CLIP: the collapse takes the centroid distance from
    0.85 to near 0, while the paired cosine (the image-specific residual) barely moves."""
    from gapkit.cli.main import main

    out = tmp_path / "gap.json"
    assert (
        main(
            [
                "measure",
                "--embeddings",
                str(FIXTURE),
                "--transform",
                "c3",
                "--bootstrap",
                "0",
                "--no-retrieval",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    stats = {name: s["value"] for name, s in report["stats"].items()}
    assert stats["l2m"] < 0.05
    assert 0.28 < stats["paired_cosine"] < 0.35
    transform = report["provenance"]["source"]["transform"]
    assert transform["adapter"] == "c3" and transform["fitted_on"] == "the measured pairs themselves"


def test_measure_transform_errors(tmp_path, capsys):
    from gapkit.cli.main import main

    emb = tmp_path / "e.npy"
    np.save(emb, np.random.default_rng(0).standard_normal((2, 30, D)).astype(np.float32))
    assert main(["measure", "--embeddings", str(emb), "--transform", "c33"]) == 2
    assert "c3" in capsys.readouterr().err  # did-you-mean
    assert (
        main(["measure", "--embeddings", str(emb), "--transform", "c3", "--transform-from", str(tmp_path)])
        == 2
    )
    assert "not both" in capsys.readouterr().err
    assert main(["measure", "--embeddings", str(emb), "--transform-from", str(tmp_path)]) == 2
    assert "adapter.pt" in capsys.readouterr().err
