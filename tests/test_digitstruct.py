"""digitStruct.mat: the fast reader, the per-element oracle and the writer agree, and match the real files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from svhn_api.data.digitstruct import MATLAB_FIELDS, read_digitstruct, read_digitstruct_per_element
from svhn_api.data.digitstruct_writer import write_digitstruct
from svhn_api.errors import DataError
from svhn_api.records import DigitBox, ImageRecord

SHARED = Path(__file__).resolve().parents[2] / "shared" / "svhn-real"
REAL_MATS = {"train": "train_first39.mat", "test": "test_first40.mat", "extra": "extra_first40.mat"}
needs_shared = pytest.mark.skipif(
    not (SHARED / "digitStruct").is_dir(), reason=f"real SVHN reference files not present at {SHARED}"
)


def make_records(n: int = 23, seed: int = 0) -> list[ImageRecord]:
    """1- to 6-digit images, every label 1-10 (10 = digit 0), fractional and negative box values."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        k = [1, 2, 3, 1, 4, 2, 5, 6][i % 8]
        boxes = [
            DigitBox(
                int(rng.integers(1, 11)),
                float(rng.integers(-3, 500)) + 0.5 * (j % 2),
                float(rng.integers(-3, 300)),
                float(rng.integers(1, 90)) + 0.25,
                float(rng.integers(1, 200)),
            )
            for j in range(k)
        ]
        records.append(ImageRecord(f"{i + 1}.png", boxes))
    records[0] = ImageRecord("1.png", [DigitBox(10, 43.0, 7.0, 19.0, 30.0)])  # single digit 0
    records[1] = ImageRecord("long_name_0123456789.png", [DigitBox(10, 1.5, 2.0, 3.0, 4.0), DigitBox(1, 5, 6, 7, 8)])
    return records


@pytest.fixture(scope="module")
def records() -> list[ImageRecord]:
    return make_records()


@pytest.fixture(scope="module")
def mat_file(tmp_path_factory, records) -> Path:
    path = tmp_path_factory.mktemp("ds") / "digitStruct.mat"
    write_digitstruct(path, records)
    return path


def test_round_trip_equals_input_and_per_element_reader(mat_file, records):
    fast = read_digitstruct(mat_file)
    assert fast == records
    assert read_digitstruct_per_element(mat_file) == records
    assert all(isinstance(b.label, int) and isinstance(b.left, float) for r in fast for b in r.boxes)


def test_file_objects_and_determinism(mat_file, records):
    buf = io.BytesIO()
    write_digitstruct(buf, records)
    data = buf.getvalue()
    assert data == mat_file.read_bytes()  # same bytes from a path or a file object, every time
    assert read_digitstruct(io.BytesIO(data)) == records
    assert read_digitstruct_per_element(io.BytesIO(data)) == records


def test_written_layout_is_matlab_v73(mat_file, records):
    assert mat_file.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    assert mat_file.read_bytes()[124:128] == b"\x00\x02IM"
    with h5py.File(mat_file, "r") as f:
        assert f.userblock_size == 512
        names, bbox = f["digitStruct/name"], f["digitStruct/bbox"]
        assert names.shape == bbox.shape == (len(records), 1)
        assert h5py.check_ref_dtype(names.dtype) is h5py.Reference
        assert f["digitStruct"].attrs["MATLAB_class"] == b"struct"
        name0 = f[names[0, 0]]
        assert name0.dtype == np.uint16 and name0.shape == (5, 1) and name0.attrs["MATLAB_class"] == b"char"
        single, multi = f[bbox[0, 0]], f[bbox[1, 0]]
        assert [b"".join(x) for x in single.attrs["MATLAB_fields"]] == [k.encode() for k in MATLAB_FIELDS]
        for key in MATLAB_FIELDS:
            assert single[key].dtype == np.float64 and single[key].shape == (1, 1)  # inline
            assert h5py.check_ref_dtype(multi[key].dtype) is h5py.Reference and multi[key].shape == (2, 1)
        assert f[multi["label"][0, 0]].attrs["MATLAB_class"] == b"double"
        assert single["label"][0, 0] == 10.0


def test_path_write_is_atomic_and_leaves_no_temp(tmp_path, records):
    target = tmp_path / "digitStruct.mat"
    target.write_bytes(b"old")
    with pytest.raises(ValueError):
        write_digitstruct(target, [*records[:3], ImageRecord("bad.png", [])])
    assert target.read_bytes() == b"old"
    write_digitstruct(target, records[:3])
    assert read_digitstruct(target) == records[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digitStruct.mat"]


def _write_with_h5py(path: Path, records: list[ImageRecord], *, drop_field: str | None = None) -> None:
    """The same logical layout written with h5py's defaults and the newest format (v2 object headers,
    chunked arrays): valid, but nothing like MATLAB's bytes, so the fast path must hand over."""
    with h5py.File(path, "w", libver="latest") as f:
        refs = f.create_group("#refs#")
        ds = f.create_group("digitStruct")
        name_refs, bbox_refs = [], []
        for i, rec in enumerate(records):
            units = np.frombuffer(rec.filename.encode("utf-16-le"), "<u2").reshape(-1, 1)
            name_refs.append(refs.create_dataset(f"n{i}", data=units).ref)
            group = refs.create_group(f"g{i}")
            for key in MATLAB_FIELDS:
                if key == drop_field:
                    continue
                vals = [getattr(b, key) for b in rec.boxes]
                if len(vals) == 1:
                    group.create_dataset(key, data=np.array([[vals[0]]], dtype="f8"))
                else:
                    targets = [
                        refs.create_dataset(f"v{i}{key}{j}", data=[[v]], dtype="f8").ref for j, v in enumerate(vals)
                    ]
                    group.create_dataset(key, data=np.array(targets, dtype=h5py.ref_dtype).reshape(-1, 1))
            bbox_refs.append(group.ref)
        for key, refs_list in (("name", name_refs), ("bbox", bbox_refs)):
            ds.create_dataset(key, data=np.array(refs_list, dtype=h5py.ref_dtype).reshape(-1, 1), chunks=(4, 1))


def test_unusual_but_valid_file_falls_back_to_per_element(tmp_path, records):
    path = tmp_path / "latest.mat"
    _write_with_h5py(path, records[:9])
    assert read_digitstruct(path) == records[:9]


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not a MATLAB file at all" * 40, b"MATLAB 7.3 MAT-file" + b"\0" * 2000],
    ids=["empty", "text", "header-only"],
)
def test_not_hdf5_raises_data_error_naming_the_file(tmp_path, content):
    path = tmp_path / "broken_digitStruct.mat"
    path.write_bytes(content)
    for reader in (read_digitstruct, read_digitstruct_per_element):
        with pytest.raises(DataError, match="broken_digitStruct.mat"):
            reader(path)
    with pytest.raises(DataError):
        read_digitstruct(io.BytesIO(content))


def test_truncated_and_missing_files_raise_data_error(tmp_path, mat_file):
    cut = tmp_path / "cut.mat"
    cut.write_bytes(mat_file.read_bytes()[: mat_file.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.mat"):
        read_digitstruct(cut)
    with pytest.raises(DataError, match="nope.mat"):
        read_digitstruct(tmp_path / "nope.mat")


def test_wrong_layout_raises_data_error(tmp_path, records):
    other = tmp_path / "other.mat"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(DataError, match=r"other.mat.*digitStruct"):
        read_digitstruct(other)
    missing = tmp_path / "missing_field.mat"
    _write_with_h5py(missing, records[:4], drop_field="label")
    with pytest.raises(DataError, match="missing_field.mat"):
        read_digitstruct(missing)
    numbers = tmp_path / "numbers.mat"
    with h5py.File(numbers, "w") as f:
        f["digitStruct/name"] = np.zeros((3, 1))
        f["digitStruct/bbox"] = np.zeros((3, 1))
    with pytest.raises(DataError, match="not object references"):
        read_digitstruct(numbers)


# ---- optional checks against the real SVHN files --------------------------------------------------


def _annotations(split: str) -> list[ImageRecord]:
    entries = json.loads((SHARED / "annotations" / f"{split}.json").read_text())
    return [
        ImageRecord(
            e["filename"], [DigitBox(b["label"], b["left"], b["top"], b["width"], b["height"]) for b in e["boxes"]]
        )
        for e in entries
    ]


@needs_shared
@pytest.mark.parametrize("split", ["train", "test"])
def test_real_subset_matches_annotations_exactly(split):
    got = read_digitstruct(SHARED / "digitStruct" / REAL_MATS[split])
    assert len(got) >= 39
    assert got == _annotations(split)[: len(got)]


@needs_shared
def test_real_extra_subset_matches_per_element_reader():
    path = SHARED / "digitStruct" / REAL_MATS["extra"]
    got = read_digitstruct(path)
    assert len(got) == 40 and got == read_digitstruct_per_element(path)
    with open(path, "rb") as fh:  # a file object, as when read out of the tar.gz
        assert read_digitstruct(fh) == got


def _structure(path: Path) -> dict[str, tuple]:
    """Every object: kind, shape, HDF5 type, layout, attributes (with their HDF5 types), data with
    references resolved to the path they point at."""

    def h5type(t) -> tuple:
        desc = (t.get_class(), t.get_size())
        if isinstance(t, h5py.h5t.TypeStringID):
            desc += (t.get_strpad(), t.get_cset())
        if isinstance(t, h5py.h5t.TypeVlenID):
            desc += (h5type(t.get_super()),)
        if isinstance(t, h5py.h5t.TypeIntegerID):
            desc += (t.get_order(), t.get_sign())
        return desc

    with h5py.File(path, "r") as f:

        def value(v):
            if isinstance(v, h5py.Reference):
                return f[v].name
            if isinstance(v, np.ndarray) and v.dtype == object:
                return tuple(value(x) for x in v.ravel())
            if isinstance(v, np.ndarray):
                return (v.shape, v.dtype.str, v.tobytes())
            return v

        out: dict[str, tuple] = {}

        def visit(name, obj):
            attrs = tuple(
                (key, h5type(h5py.h5a.open(obj.id, key.encode()).get_type()), value(obj.attrs[key]))
                for key in sorted(obj.attrs)
            )
            if isinstance(obj, h5py.Dataset):
                layout = obj.id.get_create_plist().get_layout()
                out[name] = ("dataset", obj.shape, h5type(obj.id.get_type()), layout, attrs, value(obj[()]))
            else:
                out[name] = ("group", attrs)

        f.visititems(visit)
        return out | {"<userblock>": (f.userblock_size,)}


@pytest.mark.slow
@needs_shared
@pytest.mark.parametrize("split", ["train", "test"])
def test_written_file_has_the_official_structure(tmp_path, split):
    official = SHARED / "digitStruct" / REAL_MATS[split]
    n = len(read_digitstruct(official))
    ours = tmp_path / "ours.mat"
    write_digitstruct(ours, _annotations(split)[:n])
    want, got = _structure(official), _structure(ours)
    assert sorted(got) == sorted(want)
    assert [k for k in want if want[k] != got[k]] == []
    assert ours.read_bytes()[116:128] == official.read_bytes()[116:128]  # subsystem offset, version, 'IM'
