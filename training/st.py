"""safetensors read/write with numpy only (Debian ships no `safetensors` package).

Layout: u64 little-endian header length N | N bytes of JSON | data. The JSON maps names to
{"dtype", "shape", "data_offsets": [begin, end]} and may hold "__metadata__": {str: str}.
"""

import json
import os
import struct

import numpy as np

_DT = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int8"): "I8",
       np.dtype("int32"): "I32", np.dtype("float64"): "F64"}
_NP = {v: k for k, v in _DT.items()}


def save(path, tensors, metadata=None):
    """tensors: {name: np.ndarray} written in the given order; metadata: {str: str}."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        b = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DT[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)  # pad so the data section starts 8-aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def replace_metadata(path, updates):
    """Sets the given __metadata__ keys of a safetensors file in place (atomically), keeping every tensor's bytes:
    the data section is copied verbatim, only the JSON header (and its padding) changes."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    meta.update({str(k): str(v) for k, v in updates.items()})
    h = json.dumps({"__metadata__": meta, **header}, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + raw[8 + n:])
    os.replace(tmp, path)


def load(path):
    """-> (tensors {name: np.ndarray}, metadata {str: str})."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=_NP[e["dtype"]].newbyteorder("<")).reshape(e["shape"]).copy()
    return out, meta
