"""Minimal PNG writing for grids (zlib + struct from the standard library; training has no image package)."""

import struct
import zlib

import numpy as np


def _chunk(tag, body):
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)


def write_gray(path, img_u8):
    h, w = img_u8.shape
    raw = b"".join(b"\x00" + img_u8[r].tobytes() for r in range(h))
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def to_u8(x):
    """[-1, 1] float -> uint8, the same rounding as the C engine: floor((x + 1) * 127.5 + 0.5), clamped."""
    return np.clip(np.floor((np.clip(x, -1, 1) + 1) * 127.5 + 0.5), 0, 255).astype(np.uint8)


def write_grid(path, x, cols, pad=2):
    """x: [N, 1, H, W] in [-1, 1] -> one grey PNG, `cols` images per row."""
    n, _, h, w = x.shape
    rows = (n + cols - 1) // cols
    canvas = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad), dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = to_u8(x[i, 0])
    write_gray(path, canvas)
