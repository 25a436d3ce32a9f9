import numpy as np
import pytest

keras = pytest.importorskip("keras")

from svhn_api.models import architectures as models  # noqa: E402
from svhn_api.models import io as model_io  # noqa: E402


def _conv_filters(net):
    return [layer.filters for layer in net.layers if isinstance(layer, keras.layers.Conv2D)
            and not isinstance(layer, keras.layers.DepthwiseConv2D)]


@pytest.mark.parametrize("name,shape", [("compact", (64, 64, 3)), ("seed", (32, 32, 1)), ("seed", (64, 64, 3)),
                                        ("deep", (64, 64, 3))])
def test_every_architecture_reads_uint8_and_gives_six_softmax_heads(name, shape):
    net = models.build(name, shape)
    assert net.input.dtype == "uint8"
    x = np.random.default_rng(0).integers(0, 256, (2, *shape), dtype=np.uint8)
    p = np.asarray(net(x, training=False))
    assert p.shape == (2, 6, 11)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)


def test_architectures_match_their_descriptions():
    seed = models.build("seed", (32, 32, 1))
    assert _conv_filters(seed) == [16, 32, 64]
    assert [layer.padding for layer in seed.layers if isinstance(layer, keras.layers.Conv2D)] == \
        ["valid", "same", "valid"]
    assert seed.get_layer("features").output.shape[-1] == 256
    assert sum(isinstance(layer, models.LocalResponseNorm) for layer in seed.layers) == 3
    deep = models.build("deep")
    assert _conv_filters(deep) == [48, 64, 128, 160, 192, 192, 192, 192]
    assert [layer.units for layer in deep.layers if isinstance(layer, keras.layers.Dense)] == [3072, 3072, 66]
    assert deep.get_layer("features").output.shape[-1] == 7 * 7 * 192
    compact = models.build("compact")
    assert 100_000 <= compact.count_params() <= 300_000
    assert any(isinstance(layer, keras.layers.DepthwiseConv2D) for layer in compact.layers)
    assert models.RECIPES["seed"].optimizer == "adagrad" and models.RECIPES["seed"].lr == 0.01
    assert models.RECIPES["seed"].batch_size == 64


def test_prepare_layer_centre_crops_and_normalises():
    x = np.zeros((1, 64, 64, 3), np.uint8)
    x[:, 5:59, 5:59] = 200                      # the 54x54 centre is uniform, the border dark
    x[:, 20:30, 20:30] = 50
    out = np.asarray(models.Prepare(crop=54, size=None, norm="gcn")(x))
    assert out.shape == (1, 54, 54, 3)
    assert abs(out.mean()) < 1e-4 and abs(out.std() - 1) < 1e-3
    gray = np.asarray(models.Prepare(size=32, gray=True, norm="scale")(x))
    assert gray.shape == (1, 32, 32, 1)
    assert gray.min() >= -1 and gray.max() <= 1


def test_save_and_load_round_trip(tmp_path):
    net = models.build("compact")
    path = model_io.save(net, tmp_path / "m")
    assert path.name == "model.keras" and not list(path.parent.glob(".tmp*"))
    loaded = model_io.load(tmp_path / "m")
    assert loaded is model_io.load(path.parent)  # cached
    x = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(loaded.probabilities(x), np.asarray(net(x, training=False)), atol=1e-5)
