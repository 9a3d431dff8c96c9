"""The code paths that exist for GPUs, run on the CPU where they can be (batched torchvision
decoding and tensor preprocessing, the autocast / pinned-memory choices), and on CUDA where only
a GPU can run them (skipped here with the reason; benchmarks/gpu.sh runs them on one)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gapkit.cache import digest
from gapkit.embed import extract_image_features, image_cache_fields, pin_memory
from gapkit.encoders import create_encoder
from gapkit.encoders.tensor_transform import decode_batch, read_bytes, tensor_transform
from gapkit.errors import GapkitError

from .test_encoders import TINY_CFG

NEEDS_CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (benchmarks/gpu.sh runs it on a GPU machine)"
)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """Photos-like images of several sizes as JPEG (quality 95) and PNG."""
    d = tmp_path_factory.mktemp("img")
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(240, 320), (300, 300), (181, 250), (64, 64)]):
        smooth = rng.normal(size=(h // 8 + 1, w // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)[:h, :w]
        arr = np.clip(128 + 60 * smooth + 10 * rng.normal(size=(h, w, 3)), 0, 255).astype(np.uint8)
        for ext, kw in (("jpg", {"quality": 95}), ("png", {})):
            paths.append(d / f"{i}.{ext}")
            Image.fromarray(arr).save(paths[-1], **kw)
    return paths


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    import open_clip

    d = tmp_path_factory.mktemp("oc-config")
    cfg = {**TINY_CFG, "vision_cfg": {**TINY_CFG["vision_cfg"], "image_size": 64}}
    (d / "GapkitTiny64-ViT.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(d)
    return create_encoder("GapkitTiny64-ViT:random-init", device="cpu")


def test_batched_decode_matches_pil(image_files):
    decoded = decode_batch([read_bytes(p) for p in image_files], torch.device("cpu"))
    for p, img in zip(image_files, decoded):
        ref = torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)
        assert img.dtype == torch.uint8 and img.shape == ref.shape
        diff = (img.int() - ref.int()).abs()
        if p.suffix == ".png":
            assert diff.max() == 0  # lossless
        else:
            assert diff.float().mean() < 1.0  # two libjpeg builds may round a few pixels apart


@pytest.mark.parametrize("encoder, tol", [("open_clip", 0.005), ("shapes", 0.005)])
def test_tensor_preprocessing_matches_the_pil_transform(image_files, vit, encoder, tol):
    enc = vit if encoder == "open_clip" else create_encoder("gapkit-shapes:random-init", device="cpu")
    prep = tensor_transform(enc.image_transform)
    for p in image_files:
        with Image.open(p) as im:
            ref = enc.image_transform(im.convert("RGB"))
        ours = prep(decode_batch([read_bytes(p)], torch.device("cpu"))[0])
        assert ours.shape == ref.shape and ours.dtype == torch.float32
        # Tensor resizing rounds differently from PIL (measured: 0.08% of the value range for
        # open_clip's bicubic resize; PIL's box filter is replicated, up to 1 level of 255).
        spread = float(ref.max() - ref.min())
        assert float((ours - ref).abs().mean()) < tol * spread, p.name


def test_decode_torchvision_features_agree_with_pil(image_files, vit):
    jpegs = [p for p in image_files if p.suffix == ".jpg"]
    pil = extract_image_features(vit, jpegs, batch_size=3, num_workers=0, decode="pil")
    tv = extract_image_features(vit, jpegs, batch_size=3, num_workers=0, decode="torchvision")
    cos = (pil * tv).sum(1) / np.linalg.norm(pil, axis=1) / np.linalg.norm(tv, axis=1)
    assert cos.min() > 0.999


def test_decode_torchvision_is_keyed_apart_in_the_cache(vit):
    pil = image_cache_fields(vit, {"d": 1}, ["a"], None)
    tv = image_cache_fields(vit, {"d": 1}, ["a"], None, decode="torchvision")
    assert "decode" not in pil and tv["decode"] == "torchvision"


def test_unsupported_preprocessing_and_undecodable_images(vit, tmp_path):
    with pytest.raises(GapkitError, match="cannot redo the preprocessing step .* use --decode pil"):
        tensor_transform(lambda im: im)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(GapkitError, match="could not be decoded by torchvision"):
        extract_image_features(vit, [bad], num_workers=0, decode="torchvision")


def test_cuda_choices_autocast_and_pinned_memory(vit, monkeypatch):
    """What a CUDA encoder would do, checked without one: bf16 autocast where supported (else
    fp16), pinned batches for PIL decoding only; on the CPU neither."""
    assert not pin_memory(vit, "pil")
    assert type(vit._autocast()).__name__ == "nullcontext"
    monkeypatch.setattr(vit, "device", torch.device("cuda"))
    assert pin_memory(vit, "pil") and not pin_memory(vit, "torchvision")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available, disabling autocast" on a CPU build
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
        assert vit._autocast().fast_dtype == torch.bfloat16
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
        assert vit._autocast().fast_dtype == torch.float16


def test_reduced_precision_features_are_cached_apart(vit, monkeypatch):
    """bf16 features (CUDA) and fp32 ones (CPU) never share a cache entry; CPU keys are unchanged."""
    from gapkit.embed import text_cache_fields

    cpu = image_cache_fields(vit, {"d": 1}, ["a"], None), text_cache_fields(vit, ["a"], {"d": 1}, "{}")
    assert all("autocast" not in f["encoder"] for f in cpu)
    monkeypatch.setattr(vit, "device", torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    gpu = image_cache_fields(vit, {"d": 1}, ["a"], None), text_cache_fields(vit, ["a"], {"d": 1}, "{}")
    assert all(f["encoder"]["autocast"] == "bfloat16" for f in gpu)
    assert all(digest(a) != digest(b) for a, b in zip(cpu, gpu))


@NEEDS_CUDA
def test_cuda_decode_and_encode_match_the_cpu(image_files, vit):
    jpegs = [p for p in image_files if p.suffix == ".jpg"]
    cpu = extract_image_features(vit, jpegs, num_workers=0, decode="torchvision")
    gpu_enc = create_encoder("GapkitTiny64-ViT:random-init", device="cuda")
    gpu = extract_image_features(gpu_enc, jpegs, num_workers=0, decode="torchvision")
    cos = (cpu * gpu).sum(1) / np.linalg.norm(cpu, axis=1) / np.linalg.norm(gpu, axis=1)
    assert cos.min() > 0.99  # bf16 autocast on the GPU
