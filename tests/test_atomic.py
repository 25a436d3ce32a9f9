"""svhn_api.atomic: the one way outputs are written (the old file or the complete new one, never half)."""

import json

import pytest

from svhn_api import atomic


def test_helpers_write_and_leave_no_temp(tmp_path):
    assert atomic.write_bytes(tmp_path / "a" / "b.bin", b"\x00\x01") == tmp_path / "a" / "b.bin"
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01"
    atomic.write_text(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    atomic.write_json(tmp_path / "j.json", {"b": 1, "a": [1, 2]}, sort_keys=True)
    text = (tmp_path / "j.json").read_text()
    assert text.endswith("\n") and text.index('"a"') < text.index('"b"') and json.loads(text)["a"] == [1, 2]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.bin", "j.json", "t.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "j.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        atomic.write_json(target, {"x": object()})
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["j.json"]
