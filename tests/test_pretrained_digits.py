"""Pretrained real-digit weights: the PyTorch checkpoint reader (no PyTorch, tensors only), the Keras digit
classifier and its weight conversion, and the pipeline's pins. Every checkpoint here is written by the test
itself (a fake ``torch`` module exists only while one is pickled); the real wheel is used only when it is
already in ``$SVHN_DATA/pretrained``, and nothing here needs the network, ccexam or PyTorch."""

from __future__ import annotations

import collections
import io
import os
import pickle
import sys
import types
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines import pretrained_digits as pipeline
from pipelines.torch_state import read_state
from svhn_api import paths
from svhn_api.errors import ArchiveError, ModelError
from svhn_api.models import digits

STORAGE_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
                  "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
                  "BoolStorage": "?", "BFloat16Storage": "<u2"}


# --- writing .pth files the way torch.save does, without torch ------------------------------------------------

@dataclass(eq=False)
class Storage:
    kind: str          # e.g. "FloatStorage"
    key: str
    raw: bytes
    numel: int


@dataclass(eq=False)
class Tensor:
    storage: Storage
    offset: int
    size: tuple
    stride: tuple

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict())


def fake_torch(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """``torch`` and ``torch._utils`` with just the names a state-dict pickle refers to, for pickling only."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only referred to by name, never called")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in STORAGE_DTYPES:
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _StatePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return "storage", getattr(sys.modules["torch"], obj.kind), obj.key, "cpu", obj.numel
        return None


def pickled(obj, protocol: int = 2) -> bytes:
    buf = io.BytesIO()
    _StatePickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def storages_of(obj) -> dict[str, bytes]:
    found = {}
    for v in (obj.values() if isinstance(obj, dict) else []):
        if isinstance(v, Tensor):
            found[v.storage.key] = v.storage.raw
    return found


def write_pth(path: Path, data_pkl: bytes, storages: dict[str, bytes], root: str = "archive",
              byteorder: str | None = "little", extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{root}/data.pkl", data_pkl)
        if byteorder is not None:
            zf.writestr(f"{root}/byteorder", byteorder)
        for key, raw in storages.items():
            zf.writestr(f"{root}/data/{key}", raw)
        zf.writestr(f"{root}/version", "3\n")
        for name, raw in (extra or {}).items():
            zf.writestr(name, raw)
    return path


def save_state(path: Path, state: dict, monkeypatch: pytest.MonkeyPatch, protocol: int = 2, **kw) -> Path:
    with monkeypatch.context() as m:
        fake_torch(m)
        data = pickled(state, protocol)
    return write_pth(path, data, storages_of(state), **kw)


_KEYS = iter(range(10**6))


def tensor(a: np.ndarray, kind: str = "FloatStorage") -> Tensor:
    """A contiguous tensor holding ``a`` (in its own storage)."""
    c = np.array(a, order="C")                      # (np.ascontiguousarray would make a 0-d array 1-d)
    raw = c.astype(STORAGE_DTYPES[kind]).tobytes()
    strides = tuple(s // c.itemsize for s in c.strides)
    return Tensor(Storage(kind, str(next(_KEYS)), raw, a.size), 0, tuple(a.shape), strides)


# --- the reader ---------------------------------------------------------------------------------------------

def test_round_trip_of_dtypes_shapes_strides_offsets_and_shared_storage(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = {"f32": rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "f64": rng.normal(size=(5,)),
              "f16": rng.normal(size=(2, 3)).astype(np.float16), "i64": np.array(7, np.int64),
              "i32": rng.integers(-9, 9, (3, 2)).astype(np.int32), "i16": np.arange(-3, 3, dtype=np.int16),
              "i8": np.arange(-4, 4, dtype=np.int8), "u8": np.arange(200, 206, dtype=np.uint8),
              "bool": np.array([True, False, True]), "empty": np.zeros((0, 3), np.float32)}
    kinds = {"f32": "FloatStorage", "f64": "DoubleStorage", "f16": "HalfStorage", "i64": "LongStorage",
             "i32": "IntStorage", "i16": "ShortStorage", "i8": "CharStorage", "u8": "ByteStorage",
             "bool": "BoolStorage", "empty": "FloatStorage"}
    state = collections.OrderedDict((k, tensor(a, kinds[k])) for k, a in arrays.items())
    # views of one shared storage: a transposed (non-contiguous) one with an offset, and a strided slice
    base = np.arange(40, dtype=np.float32)
    shared = Storage("FloatStorage", "shared", base.tobytes(), base.size)
    state["transposed"] = Tensor(shared, 3, (3, 4), (1, 3))
    state["every_other"] = Tensor(shared, 10, (2, 5), (10, 2))
    # bfloat16: the upper halves of float32s that it represents exactly
    bf = np.array([1.0, -2.5, 0.15625, 2.0 ** 100], np.float32)
    state["bf16"] = Tensor(Storage("BFloat16Storage", "bf", (bf.view(np.uint32) >> 16).astype("<u2").tobytes(), 4),
                           0, (4,), (1,))
    state._metadata = collections.OrderedDict({"": {"version": 1}})   # torch's BUILD of the state dict
    torch_before = sys.modules.get("torch")
    out = read_state(save_state(tmp_path / "m.pth", state, monkeypatch))

    assert list(out) == [*arrays, "transposed", "every_other", "bf16"]
    for k, a in arrays.items():
        assert out[k].dtype == a.dtype and out[k].shape == a.shape, k
        np.testing.assert_array_equal(out[k], a)
    np.testing.assert_array_equal(out["transposed"], base[3:15].reshape(4, 3).T)
    np.testing.assert_array_equal(out["every_other"], np.lib.stride_tricks.as_strided(
        base[10:], (2, 5), (40, 8)))
    assert out["transposed"].flags.c_contiguous and out["transposed"].flags.owndata
    np.testing.assert_array_equal(out["bf16"], bf)
    assert sys.modules.get("torch") is torch_before       # the fake torch was there only while pickling


def test_big_endian_files_and_protocol_4_read_the_same(tmp_path, monkeypatch):
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    with monkeypatch.context() as m:
        fake_torch(m)
        data = pickled({"w": Tensor(Storage("FloatStorage", "0", a.astype(">f4").tobytes(), 6), 0, (2, 3), (3, 1))},
                       protocol=4)
    out = read_state(write_pth(tmp_path / "big.pth", data, {"0": a.astype(">f4").tobytes()}, byteorder="big"))
    np.testing.assert_array_equal(out["w"], a)
    assert out["w"].dtype == np.float32 and out["w"].dtype.isnative


def test_a_nested_checkpoint_needs_its_key(tmp_path, monkeypatch):
    inner = {"w": tensor(np.ones(2, np.float32))}
    path = write_pth(tmp_path / "ckpt.pth", _pickle_nested({"state_dict": inner, "epoch": 3}, monkeypatch),
                     storages_of(inner))
    with pytest.raises(ModelError, match="key='state_dict'"):
        read_state(path)
    np.testing.assert_array_equal(read_state(path, key="state_dict")["w"], np.ones(2))


def _pickle_nested(obj, monkeypatch) -> bytes:
    with monkeypatch.context() as m:
        fake_torch(m)
        return pickled(obj)


# --- malicious pickles are refused, and never run -------------------------------------------------------------

class _Shell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Eval:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


def test_the_eval_payload_is_live_under_plain_pickle(tmp_path):
    """The control: unpickled the ordinary way, the payload used below does create its file."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Eval(marker)))  # noqa: S301 - deliberately: proves the payload is real
    assert marker.exists()


@pytest.mark.parametrize("payload,glob", [(_Shell, f"{os.system.__module__}.system"),
                                          (_Eval, "(__builtin__|builtins).eval")])   # protocols < 3 say __builtin__
@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_a_global_outside_the_allowlist_is_refused_before_it_runs(tmp_path, monkeypatch, payload, glob, protocol):
    marker = tmp_path / "pwned"
    state = {"w": tensor(np.ones(3, np.float32))} if protocol else {}   # protocol 0 has no binary persistent ids
    state["evil"] = payload(marker)
    with monkeypatch.context() as m:
        fake_torch(m)
        data = pickled(state, protocol)
    path = write_pth(tmp_path / "evil.pth", data, storages_of(state))
    with pytest.raises(ModelError, match=rf"evil\.pth: refuses the global {glob}.*could run code"):
        read_state(path)
    assert not marker.exists()


def test_hand_assembled_inst_and_reduce_on_an_allowed_global_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    inst = f"(S'touch {marker}'\nios\nsystem\n.".encode()          # INST: builds without find_class's REDUCE
    with pytest.raises(ModelError, match="refuses the pickle opcode INST"):
        read_state(write_pth(tmp_path / "inst.pth", inst, {}))
    stack_global = b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93\x8c\x0aprint(1/0)\x85R."
    with pytest.raises(ModelError, match="refuses the global builtins.exec"):
        read_state(write_pth(tmp_path / "sg.pth", stack_global, {}))
    # the allowed names are resolved to our functions, and an unexpected persistent id is refused
    bad_pid = b"\x80\x02X\x04\x00\x00\x00evilQ."
    with pytest.raises(ModelError, match="refuses the persistent id"):
        read_state(write_pth(tmp_path / "pid.pth", bad_pid, {}))
    assert not marker.exists()


def test_a_pickle_cannot_alter_the_allowed_objects(tmp_path, monkeypatch):
    from pipelines import torch_state

    before = {k: (t.name, t.dtype) for k, t in torch_state._STORAGES.items()}
    build = b"\x80\x02ctorch\nFloatStorage\n}X\x05\x00\x00\x00dtypeX\x03\x00\x00\x00<f2sb."      # __dict__
    slots = b"\x80\x02ctorch\nFloatStorage\nN}X\x05\x00\x00\x00dtypeX\x03\x00\x00\x00<f2s\x86b."  # setattr
    cls = b"\x80\x02ccollections\nOrderedDict\nN}X\x03\x00\x00\x00getX\x03\x00\x00\x00bads\x86b."
    func = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}X\x08\x00\x00\x00__name__X\x01\x00\x00\x00xs\x86b."
    for i, data in enumerate((build, slots, cls, func)):
        with pytest.raises(ModelError, match="malformed checkpoint|not a state dict"):
            read_state(write_pth(tmp_path / f"{i}.pth", data, {}))
    assert {k: (t.name, t.dtype) for k, t in torch_state._STORAGES.items()} == before
    assert callable(collections.OrderedDict.get)
    a = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(read_state(save_state(tmp_path / "ok.pth", {"w": tensor(a)}, monkeypatch))["w"], a)


def test_memo_and_tensor_size_bombs_are_refused(tmp_path, monkeypatch):
    memo = b"\x80\x02}r\xff\xff\xff\x7f."    # LONG_BINPUT 2**31-1: a huge memo table in the C unpickler
    with pytest.raises(ModelError, match="memo index"):
        read_state(write_pth(tmp_path / "memo.pth", memo, {}))
    tiny = Storage("FloatStorage", "0", np.zeros(1, np.float32).tobytes(), 1)
    huge = {"w": Tensor(tiny, 0, (10**6, 10**6), (0, 0))}             # stride 0: 4 TB from 4 bytes
    with pytest.raises(ModelError, match="over the .*-byte limit"):
        read_state(save_state(tmp_path / "huge.pth", huge, monkeypatch))
    past = {"w": Tensor(tiny, 1, (2,), (1,))}
    with pytest.raises(ModelError, match="reaches past its storage"):
        read_state(save_state(tmp_path / "past.pth", past, monkeypatch))


def test_zip_abuse_and_non_checkpoints_are_refused_with_the_file_named(tmp_path, monkeypatch):
    state = {"w": tensor(np.ones(4, np.float32))}
    with pytest.raises(ModelError, match=r"escape\.pth: unsafe or duplicate member name '\.\./evil'"):
        read_state(save_state(tmp_path / "escape.pth", state, monkeypatch, extra={"../evil": b"x"}))
    with pytest.raises(ModelError, match="unsafe"):
        read_state(save_state(tmp_path / "abs.pth", state, monkeypatch, extra={"/etc/evil": b"x"}))
    with pytest.raises(ModelError, match="files outside the checkpoint's folder"):
        read_state(save_state(tmp_path / "stray.pth", state, monkeypatch, extra={"other/x": b"x"}))
    with pytest.raises(ModelError, match="big.pth: the checkpoint's tensors unpack to 1,600 bytes, over the 100-byte"):
        read_state(save_state(tmp_path / "big.pth", {"w": tensor(np.ones(400, np.float32))}, monkeypatch),
                   max_bytes=100)
    short = {"w": Tensor(Storage("FloatStorage", "0", b"\0" * 16, 4), 0, (4,), (1,))}
    wrong_size = write_pth(tmp_path / "short.pth", _pickle_nested(short, monkeypatch), {"0": b"\0" * 3}, root="r")
    with pytest.raises(ModelError, match=r"short.pth: malformed checkpoint .*holds 3 bytes, not 4 x 4"):
        read_state(wrong_size)
    (tmp_path / "legacy.pth").write_bytes(b"\x80\x02\x8a\x0alegacy torch format")
    with pytest.raises(ModelError, match="legacy.pth: not a PyTorch zip checkpoint"):
        read_state(tmp_path / "legacy.pth")
    with zipfile.ZipFile(tmp_path / "nopkl.pth", "w") as zf:
        zf.writestr("archive/version", "3")
    with pytest.raises(ModelError, match="exactly one <name>/data.pkl"):
        read_state(tmp_path / "nopkl.pth")
    with pytest.raises(ModelError, match="no such checkpoint file"):
        read_state(tmp_path / "missing.pth")


# --- the Keras model and the weight conversion ----------------------------------------------------------------

def random_svhnnet_state(seed: int = 0) -> dict[str, np.ndarray]:
    """A state dict with SVHNNet's names and shapes (ccexam/models.py) and random values."""
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    cin = 3
    for b, cout in enumerate(digits.CHANNELS):
        for conv, bn, c_in in ((0, 1, cin), (3, 4, cout)):
            state[f"features.{b}.{conv}.weight"] = rng.normal(0, (2 / (9 * c_in)) ** 0.5, (cout, c_in, 3, 3))
            state[f"features.{b}.{conv}.bias"] = rng.normal(0, 0.1, cout)
            state[f"features.{b}.{bn}.weight"] = rng.uniform(0.5, 1.5, cout)
            state[f"features.{b}.{bn}.bias"] = rng.normal(0, 0.1, cout)
            state[f"features.{b}.{bn}.running_mean"] = rng.normal(0, 0.2, cout)
            state[f"features.{b}.{bn}.running_var"] = rng.uniform(0.5, 2.0, cout)
            state[f"features.{b}.{bn}.num_batches_tracked"] = np.array(1000, np.int64)
        cin = cout
    state["classifier.1.weight"] = rng.normal(0, 2048 ** -0.5, (256, 2048))
    state["classifier.1.bias"] = rng.normal(0, 0.1, 256)
    state["classifier.4.weight"] = rng.normal(0, 256 ** -0.5, (10, 256))
    state["classifier.4.bias"] = rng.normal(0, 0.1, 10)
    return {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in state.items()}


def reference_logits(state: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """SVHNNet's forward pass in numpy, in PyTorch's own layout (NCHW, OIHW, channel-major flatten)."""
    x = images.astype(np.float64).transpose(0, 3, 1, 2) / 255.0
    x = (x - np.array(digits.MEAN)[:, None, None]) / np.array(digits.STD)[:, None, None]
    for b in range(3):
        for conv, bn in ((0, 1), (3, 4)):
            p = f"features.{b}."
            xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))          # padding=1
            windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))   # N, C, H, W, 3, 3
            x = np.einsum("nchwij,ocij->nohw", windows, state[f"{p}{conv}.weight"]) \
                + state[f"{p}{conv}.bias"][:, None, None]
            x = (x - state[f"{p}{bn}.running_mean"][:, None, None]) \
                / np.sqrt(state[f"{p}{bn}.running_var"][:, None, None] + 1e-5) \
                * state[f"{p}{bn}.weight"][:, None, None] + state[f"{p}{bn}.bias"][:, None, None]
            x = np.maximum(x, 0)
        n, c, h, w = x.shape
        x = x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))  # MaxPool2d(2)
    x = x.reshape(len(x), -1)                                         # flatten(start_dim=1) of NCHW
    x = np.maximum(x @ state["classifier.1.weight"].T + state["classifier.1.bias"], 0)
    return x @ state["classifier.4.weight"].T + state["classifier.4.bias"]


@pytest.mark.backends
def test_load_state_gives_the_reference_networks_logits_and_survives_saving(tmp_path):
    keras = pytest.importorskip("keras")
    from svhn_api.models import io as model_io

    state = random_svhnnet_state()
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    expected = reference_logits(state, images)
    net = digits.load_state(digits.digit_classifier(), state)
    assert net.input.dtype == "uint8" and tuple(net.output_shape) == (None, 10)
    logits = keras.Model(net.input, net.get_layer("logits").output)
    got = np.asarray(logits(images, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    probs = np.asarray(net(images, training=False))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (probs.argmax(1) == expected.argmax(1)).all()

    model_io.save(net, tmp_path)                   # standard layers only: loads without svhn_api
    again = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    np.testing.assert_allclose(np.asarray(again(images, training=False)), probs, rtol=1e-5, atol=1e-6)


def test_load_state_refuses_another_architecture():
    state = random_svhnnet_state()
    with pytest.raises(ModelError, match="no 'classifier.4.bias'"):
        digits.keras_weights({k: v for k, v in state.items() if k != "classifier.4.bias"})
    with pytest.raises(ModelError, match="has shape .* expected"):
        digits.keras_weights({**state, "classifier.1.weight": np.zeros((256, 1024), np.float32)})
    with pytest.raises(ModelError, match="entries SVHNNet does not"):
        digits.keras_weights({**state, "classifier.7.weight": np.zeros(3, np.float32)})


def test_digit_crop_makes_the_box_square_about_its_centre():
    assert digits.square_box(10, 20, 10, 30) == (0, 20, 30, 50)
    img = Image.new("RGB", (40, 40), (255, 255, 255))
    crop = digits.digit_crop(img, (30, 10, 10, 20))      # half the square lies beyond the right edge: black
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    assert crop[:, :16].min() == 255 and crop[:, -4:].max() == 0


# --- the pipeline's pins --------------------------------------------------------------------------------------

def test_a_wheel_that_is_not_the_pinned_one_is_refused(tmp_path):
    fake = tmp_path / pipeline.WHEEL
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr(pipeline.WEIGHTS, b"not the weights")
        zf.writestr(pipeline.LICENSE_MEMBER, "MIT License")
        zf.writestr(pipeline.METADATA_MEMBER, "Name: ccexam\nLicense: MIT\n\n")
    with pytest.raises(ArchiveError, match=f"is not the pinned {pipeline.WHEEL_SHA256}"):
        pipeline.verify_wheel(fake)
    with pytest.raises(ArchiveError, match="svhn.pth has SHA-256 .*, not the pinned"):
        pipeline.read_wheel(fake)
    with pytest.raises(ArchiveError, match="no such wheel"):
        pipeline.verify_wheel(tmp_path / "missing.whl")


def test_the_real_wheel_converts_with_its_provenance(tmp_path):
    wheel = paths.data_dir() / "pretrained" / pipeline.WHEEL
    if not wheel.is_file():
        pytest.skip(f"optional check: {wheel} not present (python -m pipelines.pretrained_digits fetches it)")
    from svhn_api.models import card as cards

    out = pipeline.build(tmp_path / "digits-ccexam", wheel)
    assert {p.name for p in out.iterdir()} >= {"model.keras", "card.json", "LICENSE-ccexam.txt"}
    card = cards.read(out)
    got = card.data["pretrained"]
    assert got["wheel_sha256"] == pipeline.WHEEL_SHA256 and got["file_sha256"] == pipeline.WEIGHTS_SHA256
    assert got["license"] == "MIT" and "judge it on test photos" in card.data["description"]
    assert "Permission is hereby granted" in (out / "LICENSE-ccexam.txt").read_text()
    npz = paths.real_svhn_dir() / "format2" / "train_32x32_first1083.npz"
    if npz.is_file():      # train-split crops it was trained on: only a check of the conversion
        keras = pytest.importorskip("keras")
        with np.load(npz) as d:
            x, y = d["X"][:200], d["y"].ravel()[:200] % 10
        net = keras.saving.load_model(out / "model.keras", compile=False)
        assert (np.asarray(net(x, training=False)).argmax(1) == y).mean() > 0.95
