"""The decision map's data points drawn into one PNG (an image layer instead of 1000 SVG nodes).

Why: bqplot's Scatter draws every point as its own <g transform=...><path/></g>; Chromium gives
each transformed node its own paint chunk, and every frame that repaints anything in the
figure re-layerizes all of them (PaintArtifactCompositor::Update, ~16 ms per frame for 1000
points in headless Chromium, benchmarks/bench_page.py). One <image> is one chunk. The
Scatter stays over it, transparent, for the clicks.

A point is a disc of radius r (fill, its class colour) inside a ring of width w (stroke,
white), as bqplot's Scatter draws it: area ``size`` px^2 -> r = sqrt(size / pi). Edges are
anti-aliased by coverage: a pixel whose centre lies at distance d from the point's centre is
covered by a disc of radius R to  clip(R + 1/2 - d, 0, 1). Later points lie over earlier ones
("over" compositing, in data order, as SVG paints them).
"""
from __future__ import annotations

import struct
import zlib

import numpy as np


def hex_rgb(color: str) -> np.ndarray:
    """'#rrggbb' -> array([r, g, b]) in [0, 1]."""
    if not (isinstance(color, str) and len(color) == 7 and color[0] == "#"):
        raise ValueError(f"colour {color!r}: expected '#rrggbb'")
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float) / 255.0


def draw_points(x, y, classes, colors, pixels: int, radius: float, stroke: float = 0.0,
                stroke_color: str = "#ffffff") -> np.ndarray:
    """RGBA image (pixels x pixels x 4, floats in [0, 1], straight alpha) of points at (x, y) in
    the unit square, row 0 at y = 1 (the top); ``radius`` and ``stroke`` in image pixels."""
    x, y, classes = np.asarray(x, float), np.asarray(y, float), np.asarray(classes)
    if not (x.shape == y.shape == classes.shape and x.ndim == 1):
        raise ValueError(f"x, y, classes must be 1-d of one length, got {x.shape}, {y.shape}, {classes.shape}")
    if pixels < 1 or radius <= 0 or stroke < 0:
        raise ValueError(f"pixels >= 1, radius > 0, stroke >= 0 required, got {pixels}, {radius}, {stroke}")
    palette = np.array([hex_rgb(c) for c in colors])
    if len(classes) and (classes.min() < 0 or classes.max() >= len(palette)):
        raise ValueError(f"classes must lie in 0..{len(palette) - 1}")
    ring = hex_rgb(stroke_color)
    # Premultiplied colour and alpha: "over" is then  out = src + (1 - src_alpha) * out.
    color = np.zeros((pixels, pixels, 3))
    alpha = np.zeros((pixels, pixels))
    outer, inner = radius + stroke / 2.0, max(radius - stroke / 2.0, 0.0)
    half = int(np.ceil(outer + 1.0))
    offsets = np.arange(-half, half + 1)
    cx, cy = x * pixels, (1.0 - y) * pixels  # pixel (i, j) has its centre at (j + 1/2, i + 1/2)
    for px, py, k in zip(cx, cy, classes.astype(int)):
        cols = int(np.floor(px)) + offsets
        rows = int(np.floor(py)) + offsets
        cols, rows = cols[(cols >= 0) & (cols < pixels)], rows[(rows >= 0) & (rows < pixels)]
        if not len(cols) or not len(rows):
            continue
        d = np.hypot(cols[None, :] + 0.5 - px, rows[:, None] + 0.5 - py)
        a_out = np.clip(outer + 0.5 - d, 0.0, 1.0)
        a_in = np.clip(inner + 0.5 - d, 0.0, 1.0) if inner > 0 else np.zeros_like(d)
        # The fill covers a_in, the ring the rest of a_out; together one layer of alpha a_out.
        src = a_in[..., None] * palette[k] + (a_out - a_in)[..., None] * ring
        block = np.ix_(rows, cols)
        keep = 1.0 - a_out
        color[block] = src + keep[..., None] * color[block]
        alpha[block] = a_out + keep * alpha[block]
    rgb = np.divide(color, alpha[..., None], out=np.zeros_like(color), where=alpha[..., None] > 0)
    return np.concatenate([np.clip(rgb, 0.0, 1.0), alpha[..., None]], axis=2)


def png_bytes(rgba: np.ndarray) -> bytes:
    """An 8-bit RGBA PNG of ``rgba`` (H x W x 4 floats in [0, 1]); no filter, zlib level 6."""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or not rgba.size:
        raise ValueError(f"expected an H x W x 4 image, got shape {rgba.shape}")
    height, width = rgba.shape[:2]
    raw = np.round(np.clip(rgba, 0.0, 1.0) * 255.0).astype(np.uint8)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), raw.reshape(height, width * 4)], axis=1)  # filter byte 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA, deflate, no filter, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b"")
