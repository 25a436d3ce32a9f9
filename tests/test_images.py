import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from svhn_api.data import images
from svhn_api.errors import ImageError


def png_bytes(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "I;16", "I", "F", "1", "CMYK"])
def test_every_mode_becomes_rgb(mode):
    img = Image.new(mode, (7, 5))
    out = images.load_image(img)
    assert out.mode == "RGB" and out.size == (7, 5)


def test_sixteen_bit_is_scaled_not_clipped():
    a = np.full((4, 4), 65535, dtype=np.uint16)
    assert np.asarray(images.load_image(a)).min() == 255
    assert np.asarray(images.load_image(Image.fromarray(a))).min() == 255


def test_alpha_is_composited_on_white():
    img = Image.new("RGBA", (3, 3), (0, 0, 0, 0))
    assert np.asarray(images.load_image(png_bytes(img))).min() == 255


def test_paths_bytes_and_arrays(tmp_path):
    img = Image.new("RGB", (9, 4), (10, 20, 30))
    p = tmp_path / "x.jpg"
    img.save(p)
    assert images.load_image(p).size == (9, 4)
    assert images.load_image(str(p)).size == (9, 4)
    assert images.load_image(png_bytes(img)).getpixel((0, 0)) == (10, 20, 30)
    assert images.load_image(np.zeros((4, 9, 3), np.uint8)).size == (9, 4)
    assert images.load_image(np.ones((4, 9), np.float32)).getpixel((0, 0)) == (255, 255, 255)


def test_bad_inputs_name_the_input(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png: the file is empty"):
        images.load_image(empty)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(ImageError, match="notes.png: not a readable image"):
        images.load_image(text)
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(png_bytes(Image.effect_noise((64, 64), 50))[:300])
    with pytest.raises(ImageError, match="trunc.png: corrupt or truncated"):
        images.load_image(trunc)
    with pytest.raises(ImageError, match="no such file"):
        images.load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="shape"):
        images.load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageError, match="unsupported input"):
        images.load_image(42)


def test_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    bomb = png_bytes(Image.new("L", (1000, 1000)))  # a few KB that decode to a megapixel
    assert len(bomb) < 10_000
    with pytest.raises(ImageError, match="decompression bomb"):
        images.load_image(bomb)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (no memory needed to make it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("size", "said"), [((20000, 20000), "400,000,000 pixels"),   # over twice Pillow's limit
                                            ((10000, 10000), "10000x10000 pixels"),   # over Pillow's limit
                                            ((9000, 5000), "9000x5000 pixels")])      # over ours only
def test_too_many_pixels_says_so_and_names_the_limit(tmp_path, size, said):
    path = tmp_path / "huge.png"
    path.write_bytes(png_claiming(*size))
    with pytest.raises(ImageError) as err:
        images.load_image(path)
    assert str(err.value) == (f"{path}: too many pixels: {said} is over the 40,000,000-pixel limit (a possible "
                              "decompression bomb); resize the photo")


def test_a_folder_is_not_a_missing_file(tmp_path):
    for folder in (tmp_path, str(tmp_path)):
        with pytest.raises(ImageError, match=f"^{tmp_path}: a folder, not an image file"):
            images.load_image(folder)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (30, 10), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": a phone photo taken upright
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    assert images.load_image(buf.getvalue()).size == (10, 30)


def _jpeg(img: Image.Image, orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    img.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def test_a_large_photo_read_whole_is_reduced_and_knows_its_original_size():
    side = images.WORKING_SIDE
    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 256, (side * 2 + 40, side * 5 // 2, 3), dtype=np.uint8))
    for source in (png_bytes(big), _jpeg(big), big, np.asarray(big)):
        work = images.load_image(source, working=True)
        assert work.size == (big.width // 2, big.height // 2) and min(work.size) >= side // 2
        assert images.original_size(work) == big.size
        assert images.load_image(source).size == big.size              # read with a box: the whole photo
    np.testing.assert_array_equal(np.asarray(images.load_image(png_bytes(big), working=True)),
                                  np.asarray(big.reduce(2)))                  # a PNG: box averages of 2x2
    assert images.original_size(images.load_image(big, working=True).resize((10, 10))) == (10, 10)
    small = Image.new("RGB", (side, side // 2), (3, 4, 5))
    assert images.load_image(png_bytes(small), working=True).size == small.size
    assert images.original_size(images.load_image(png_bytes(small), working=True)) == small.size


def test_a_reduced_phone_photo_is_upright_and_knows_its_upright_size():
    side = images.WORKING_SIDE
    big = Image.new("RGB", (side * 2, side * 3 // 2), (200, 10, 10))
    work = images.load_image(_jpeg(big, orientation=6), working=True)
    assert work.size == (side * 3 // 4, side) and images.original_size(work) == (side * 3 // 2, side * 2)
