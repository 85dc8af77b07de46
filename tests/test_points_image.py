"""widgets.points_image: the decision map's points drawn into one PNG, against geometry."""
import struct
import zlib

import numpy as np
import pytest

from ttfs_lab.widgets.points_image import draw_points, hex_rgb, png_bytes


def decode_png(data: bytes) -> np.ndarray:
    """A minimal independent reader for what png_bytes writes: checks signature and CRCs."""
    data = bytes(data)  # ipywidgets keeps an Image value as a memoryview
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + n
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, ctype) == (8, 6) and b"IEND" in chunks
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + 4 * w)
    assert (rows[:, 0] == 0).all()  # filter "none"
    return rows[:, 1:].reshape(h, w, 4)


def test_one_point_is_a_disc_of_its_colour_in_a_white_ring():
    r, w = 6.0, 2.0
    img = draw_points([0.5], [0.75], [1], ["#1f77b4", "#ff7f0e"], 64, radius=r, stroke=w)
    cy, cx = 0.25 * 64, 0.5 * 64  # row 0 is the top (y = 1)
    rows, cols = np.mgrid[0:64, 0:64] + 0.5
    d = np.hypot(cols - cx, rows - cy)
    # Area: the coverage sums to pi (r + w/2)^2 up to the anti-aliasing of the edge.
    assert img[..., 3].sum() == pytest.approx(np.pi * (r + w / 2) ** 2, rel=0.02)
    np.testing.assert_allclose(img[d < r - w / 2 - 1, :3], np.broadcast_to(hex_rgb("#ff7f0e"), img[d < r - w / 2 - 1, :3].shape))
    assert (img[d < r + w / 2 - 1, 3] == 1.0).all()
    ring = (d > r - w / 2 + 0.6) & (d < r + w / 2 - 0.6)
    assert ring.any() and np.allclose(img[ring, :3], 1.0)
    assert (img[d > r + w / 2 + 1, 3] == 0.0).all()


def test_later_points_lie_over_earlier_ones_and_edges_clip():
    img = draw_points([0.5, 0.5, 0.0], [0.5, 0.5, 1.0], [0, 2, 1], ["#ff0000", "#00ff00", "#0000ff"], 40, radius=5)
    np.testing.assert_allclose(img[20, 20], [0, 0, 1, 1])  # class 2, drawn last at the centre
    assert img[0, 0, 3] == 1.0 and np.allclose(img[0, 0, :3], [0, 1, 0])  # corner point, quarter inside


def test_png_round_trip():
    rgba = draw_points(np.linspace(0.1, 0.9, 7), np.linspace(0.9, 0.1, 7), [0, 1, 2, 0, 1, 2, 0],
                       ["#1f77b4", "#ff7f0e", "#2ca02c"], 50, radius=3, stroke=0.6)
    np.testing.assert_array_equal(decode_png(png_bytes(rgba)), np.round(rgba * 255).astype(np.uint8))


@pytest.mark.parametrize("call", [
    lambda: draw_points([0.5], [0.5, 0.2], [0], ["#000000"], 10, 2),
    lambda: draw_points([0.5], [0.5], [3], ["#000000"], 10, 2),
    lambda: draw_points([0.5], [0.5], [0], ["red"], 10, 2),
    lambda: draw_points([0.5], [0.5], [0], ["#000000"], 10, 0),
    lambda: png_bytes(np.zeros((4, 4, 3))),
])
def test_bad_input_is_refused(call):
    with pytest.raises(ValueError):
        call()
