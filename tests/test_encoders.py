import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from gapkit.encoders import create_encoder
from gapkit.errors import GapkitError

TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
IMAGES = [
    Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 48, 3), dtype=np.uint8)) for i in range(3)
]
TEXTS = ["a photo of a dog", "two red circles", "a small blue star in the corner"]


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory):
    """A small open_clip architecture registered with open_clip's own config mechanism."""
    import open_clip

    d = tmp_path_factory.mktemp("oc-config")
    (d / "GapkitTiny-ViT.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(d)
    return "GapkitTiny-ViT"


def _embeddings(enc):
    return enc.encode_images(IMAGES), enc.encode_texts(TEXTS)


def test_open_clip_checkpoint_round_trip(tiny_arch, tmp_path):
    rand = create_encoder(f"{tiny_arch}:random-init", device="cpu")
    ckpt = tmp_path / "tiny.pt"
    torch.save(rand.model.state_dict(), ckpt)
    loaded = create_encoder(f"{tiny_arch}:{ckpt}", device="cpu")
    for a, b in zip(_embeddings(rand), _embeddings(loaded)):
        assert a.shape == (3, 32) and np.allclose(a, b, atol=1e-6)
    assert loaded.weights_sha256 != rand.weights_sha256
    assert len(loaded.weights_sha256) == 64
    norms = np.linalg.norm(_embeddings(loaded)[0], axis=1)
    assert np.allclose(norms, 1, atol=1e-5)


def test_random_init_is_seeded_and_labelled(tiny_arch):
    a, b = create_encoder(f"{tiny_arch}:random-init"), create_encoder(f"{tiny_arch}:random-init")
    assert a.weights_sha256 == "random-init:seed=0"
    assert np.array_equal(_embeddings(a)[1], _embeddings(b)[1])


def test_open_clip_local_dir_and_hf_cache(tiny_arch, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    rand = create_encoder(f"{tiny_arch}:random-init")
    # An open_clip model folder laid out as the Hugging Face cache stores it.
    snap = tmp_path / "hub" / "models--someone--tiny-clip" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (tmp_path / "hub" / "models--someone--tiny-clip" / "refs").mkdir()
    (tmp_path / "hub" / "models--someone--tiny-clip" / "refs" / "main").write_text("abc123")
    (snap / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": {}}))
    save_file(
        {k: v.contiguous() for k, v in rand.model.state_dict().items()}, snap / "open_clip_model.safetensors"
    )
    local = create_encoder(f"local-dir:{snap}")
    assert np.allclose(_embeddings(local)[1], _embeddings(rand)[1], atol=1e-6)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    hub = create_encoder("hf-hub:someone/tiny-clip")
    assert np.allclose(_embeddings(hub)[0], _embeddings(rand)[0], atol=1e-6)
    with pytest.raises(GapkitError, match="not on this machine: looked in .*models--someone--absent"):
        create_encoder("hf-hub:someone/absent")


@pytest.mark.slow
def test_open_clip_pretrained_tag_from_hf_cache(tmp_path, monkeypatch):
    """ViT-B-32:openai resolved from a local Hugging Face cache, with the tag's preprocessing."""
    import huggingface_hub.constants as c
    from safetensors.torch import save_file

    rand = create_encoder("ViT-B-32:random-init")
    snap = tmp_path / "models--timm--vit_base_patch32_clip_224.openai" / "snapshots" / "0"
    snap.mkdir(parents=True)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("0")
    save_file(
        {k: v.contiguous() for k, v in rand.model.state_dict().items()}, snap / "open_clip_model.safetensors"
    )
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    enc = create_encoder("ViT-B-32:openai")
    assert enc.weights_sha256 != rand.weights_sha256
    assert "0.4814" in repr(enc.image_transform)  # OpenAI mean, from the tag's config
    txt = enc.encode_texts(TEXTS[:1])
    assert txt.shape == (1, 512) and np.isfinite(txt).all()


def test_hf_transformers_clip_folder(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, PreTrainedTokenizerFast

    words = sorted({w for t in TEXTS for w in t.split()} | {f"w{i}" for i in range(120)})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    cfg = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
        },
        projection_dim=24,
    )
    torch.manual_seed(0)
    model = CLIPModel(cfg)
    model.save_pretrained(tmp_path)
    fast.save_pretrained(tmp_path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        tmp_path
    )
    enc = create_encoder(f"hf:{tmp_path}", device="cpu")
    assert enc.embed_dim == 24
    txt = enc.encode_texts(TEXTS, normalize=False)
    ids = fast(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model.get_text_features(**ids)
    ref = out if isinstance(out, torch.Tensor) else out.pooler_output
    assert np.allclose(txt, ref.numpy(), atol=1e-5)
    assert enc.encode_images(IMAGES).shape == (3, 24)


def test_hf_folder_without_weights_names_where_it_looked(tmp_path):
    with pytest.raises(GapkitError, match=r"looked in .*model\.safetensors"):
        create_encoder(f"hf:{tmp_path}")


def test_shapes_random_init_control():
    enc = create_encoder("gapkit-shapes:random-init")
    assert enc.weights_sha256 == "random-init:seed=0"
    img = enc.encode_images(np.zeros((2, 32, 32, 3), np.uint8))
    assert img.shape == (2, enc.embed_dim)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("ViT-B-33:openai", "Unknown encoder 'ViT-B-33'. Did you mean: ViT-B-32"),
        ("ViT-B-32:opena", "Unknown pretrained tag 'opena' for ViT-B-32. Did you mean: openai"),
        ("ViT-B-32", "names an architecture but no weights"),
        ("ViT-B-32:/nonexistent/ckpt.pt", "Checkpoint not found: /nonexistent/ckpt.pt"),
        ("ViT-L-14:laion2b_s32b_b82k", "not on this machine: looked in .*CLIP-ViT-L-14-laion2B-s32B-b82K"),
        ("gapkit-shapes:/nonexistent/dir", "Tiny CLIP weights not found: looked for /nonexistent/dir"),
    ],
)
def test_bad_encoder_specs(spec, message, tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))  # an empty cache, whatever this machine has
    with pytest.raises(GapkitError, match=message):
        create_encoder(spec)


def test_device_choice():
    from gapkit.encoders import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(GapkitError, match="CUDA is not available"):
            resolve_device("cuda")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_encode_cli_with_a_local_open_clip_checkpoint_hits_the_cache(tiny_arch, tmp_path, capsys):
    from gapkit.cli.main import main
    from gapkit.worlds.shapes.export import export_world
    from gapkit.worlds.shapes.world import ShapesWorld

    world = export_world(ShapesWorld(seed=1, sizes={"test": 6}, n_minimal_pairs=1).generate(), tmp_path / "w")
    ckpt = tmp_path / "tiny.pt"
    torch.save(create_encoder(f"{tiny_arch}:random-init").model.state_dict(), ckpt)
    args = [
        "encode",
        "--encoder",
        f"{tiny_arch}:{ckpt}",
        "--data-path",
        str(world),
        "--workers",
        "0",
        "--out",
        str(tmp_path / "e.npz"),
    ]
    assert main(args) == 0
    assert "cache miss" in capsys.readouterr().err
    assert main(args) == 0
    assert capsys.readouterr().err.count("cache hit") == 2
    z = np.load(tmp_path / "e.npz")
    assert z["image_emb"].shape == (6, 32) and z["text_emb"].shape == (30, 32)


@pytest.mark.parametrize("bad", ["gapkit-shapes:/nonexistent", "nosuch:tag"])
def test_encode_cli_bad_encoder_exits_2(bad, capsys):
    from gapkit.cli.main import main

    assert main(["encode", "--encoder", bad]) == 2
    assert capsys.readouterr().err.startswith("gapkit: error: ")
