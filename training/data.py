"""Fashion-MNIST from Debian's `dataset-fashion-mnist` package, read from the IDX files directly.

IDX format: big-endian magic (0x00000803 images / 0x00000801 labels), then the
dimension sizes as big-endian uint32, then raw uint8 data.
"""

import gzip
import os
import struct

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class DataError(RuntimeError):
    pass


def _read_idx(path, magic, ndim):
    if not os.path.exists(path):
        raise DataError(f"{path} is missing: install it with `apt-get install dataset-fashion-mnist` "
                        f"or pass --data-dir to a folder holding the four Fashion-MNIST .gz files")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable gzip file ({e})") from None
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: file too short for an IDX header ({len(raw)} bytes)")
    got = struct.unpack(">I", raw[:4])[0]
    if got != magic:
        raise DataError(f"{path}: bad IDX magic 0x{got:08x}, expected 0x{magic:08x}")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    need = int(np.prod(dims))
    body = raw[4 + 4 * ndim:]
    if len(body) != need:
        raise DataError(f"{path}: header says {dims} = {need} bytes of data, file has {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def load(split="train", data_dir=DEFAULT_DIR):
    """Returns (images uint8 [N, 28, 28], labels int64 [N])."""
    prefix = {"train": "train", "test": "t10k"}[split]
    x = _read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"), 0x803, 3)
    y = _read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"), 0x801, 1)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{split}: {x.shape[0]} images but {y.shape[0]} labels")
    if y.max() > 9:
        raise DataError(f"{split}: label {int(y.max())} out of range 0..9")
    return x, y.astype(np.int64)


def to_model_range(images_u8):
    """uint8 [N, H, W] -> float32 [N, 1, H, W] in [-1, 1] (no padding: the models run at 28x28)."""
    return (images_u8.astype(np.float32) / 127.5 - 1.0)[:, None]
