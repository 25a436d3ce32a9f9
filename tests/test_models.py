import numpy as np
import pytest

keras = pytest.importorskip("keras")

from svhn_api.models import architectures as models  # noqa: E402
from svhn_api.models import io as model_io  # noqa: E402
from svhn_api.models import kinds  # noqa: E402
from svhn_api.models.layers import InputAdapter, LocalResponseNorm  # noqa: E402


def _conv_filters(net):
    return [layer.filters for layer in net.layers if isinstance(layer, keras.layers.Conv2D)
            and not isinstance(layer, keras.layers.DepthwiseConv2D)]


@pytest.mark.backends
@pytest.mark.parametrize("name,shape", [("compact", (64, 64, 3)), ("capstone", (32, 32, 1)), ("capstone", (64, 64, 3)),
                                        ("deep", (64, 64, 3))])
@pytest.mark.backends
def test_every_architecture_reads_uint8_and_gives_six_softmax_heads(name, shape):
    net = models.build(name, shape)
    assert net.input.dtype == "uint8"
    x = np.random.default_rng(0).integers(0, 256, (2, *shape), dtype=np.uint8)
    p = np.asarray(net(x, training=False))
    assert p.shape == (2, 6, 11)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)


@pytest.mark.backends
def test_architectures_match_their_descriptions():
    capstone = models.build("capstone", (32, 32, 1))
    assert capstone.name == "capstone" and _conv_filters(capstone) == [16, 32, 64]
    assert [layer.padding for layer in capstone.layers if isinstance(layer, keras.layers.Conv2D)] == \
        ["valid", "same", "valid"]
    assert capstone.get_layer("features").output.shape[-1] == 256
    assert sum(isinstance(layer, LocalResponseNorm) for layer in capstone.layers) == 3
    deep = models.build("deep")
    assert _conv_filters(deep) == [48, 64, 128, 160, 192, 192, 192, 192]
    assert [layer.units for layer in deep.layers if isinstance(layer, keras.layers.Dense)] == [3072, 3072, 66]
    assert deep.get_layer("features").output.shape[-1] == 7 * 7 * 192
    compact = models.build("compact")
    assert 100_000 <= compact.count_params() <= 300_000
    assert any(isinstance(layer, keras.layers.DepthwiseConv2D) for layer in compact.layers)
    assert kinds.recipe("capstone").optimizer == "adagrad" and kinds.recipe("capstone").lr == 0.01
    assert kinds.recipe("capstone").batch_size == 64
    with pytest.raises(ValueError, match="choose one of compact, capstone, deep"):
        models.build("resnet")


@pytest.mark.backends
def test_input_adapter_centre_crops_and_normalises():
    x = np.zeros((1, 64, 64, 3), np.uint8)
    x[:, 5:59, 5:59] = 200                      # the 54x54 centre is uniform, the border dark
    x[:, 20:30, 20:30] = 50
    out = np.asarray(InputAdapter(crop=54, size=None, norm="gcn")(x))
    assert out.shape == (1, 54, 54, 3)
    assert abs(out.mean()) < 1e-4 and abs(out.std() - 1) < 1e-3
    gray = np.asarray(InputAdapter(size=32, gray=True, norm="scale")(x))
    assert gray.shape == (1, 32, 32, 1)
    assert gray.min() >= -1 and gray.max() <= 1


@pytest.mark.backends
def test_save_and_load_round_trip(tmp_path):
    net = models.build("compact")
    path = model_io.save(net, tmp_path / "m")
    assert path.name == "model.keras" and not list(path.parent.glob(".tmp*"))
    loaded = model_io.load(tmp_path / "m")
    assert loaded is model_io.load(path.parent)  # cached
    x = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(loaded.probabilities(x), np.asarray(net(x, training=False)), atol=1e-5)


@pytest.mark.backends
def test_local_response_norm_matches_its_formula():
    x = np.random.default_rng(2).normal(size=(1, 2, 2, 12)).astype(np.float32)
    out = np.asarray(LocalResponseNorm(depth_radius=2, bias=1.0, alpha=0.5, beta=0.75)(x))
    sq = np.pad(x ** 2, [(0, 0), (0, 0), (0, 0), (2, 2)])
    window = sum(sq[..., i:i + 12] for i in range(5))
    np.testing.assert_allclose(out, x / (1.0 + 0.5 * window) ** 0.75, rtol=1e-5)


@pytest.mark.slow
def test_another_backend_reads_the_shipped_model_alike(tmp_path):
    """The shipped model's probabilities under JAX equal TensorFlow's within 1e-4 (or the other way round
    when the suite itself runs under JAX)."""
    import os
    import subprocess
    import sys

    from svhn_api import paths

    if not (paths.default_model() / "model.keras").is_file():
        pytest.skip("no shipped model")
    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    pytest.importorskip(other)
    x = np.random.default_rng(0).integers(0, 256, (16, 64, 64, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np; from svhn_api.models import io; import keras; "
            f"assert keras.backend.backend() == {other!r}; "
            "np.save(sys.argv[2], io.load(None).probabilities(np.load(sys.argv[1])))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.npy"), str(tmp_path / "p.npy")], check=True,
                   env={**os.environ, "KERAS_BACKEND": other}, capture_output=True, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model_io.load(None).probabilities(x), atol=1e-4)
