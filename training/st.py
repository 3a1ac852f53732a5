"""safetensors read/write with numpy only (Debian ships no `safetensors` package).

Layout: u64 little-endian header length N | N bytes of JSON | data. The JSON maps names to
{"dtype", "shape", "data_offsets": [begin, end]} and may hold "__metadata__": {str: str}.

BF16 (numpy has no bfloat16): `load` widens BF16 tensors to float32 (exact), or with raw_bf16=True returns their
uint16 bit patterns; `save(..., dtypes={name: "BF16"})` writes a uint16 array as those bits, or rounds a float32
array to BF16 (nearest even). `header(path)` gives the JSON header (dtypes, shapes) without reading the data.
"""

import json
import os
import struct

import numpy as np

_DT = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int8"): "I8",
       np.dtype("int32"): "I32", np.dtype("float64"): "F64", np.dtype("int64"): "I64", np.dtype("uint8"): "U8",
       np.dtype("int16"): "I16", np.dtype("uint16"): "U16", np.dtype("bool"): "BOOL"}
_NP = {v: k for k, v in _DT.items()}


def f32_to_bf16(a):
    """float32 array -> uint16 BF16 bit patterns, round to nearest even (NaN stays a quiet NaN)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    r = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        r[nan] = ((u[nan] >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16)
    return r


def bf16_to_f32(u16):
    """uint16 BF16 bit patterns -> float32 (exact)."""
    return (np.ascontiguousarray(u16, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def save(path, tensors, metadata=None, dtypes=None):
    """tensors: {name: np.ndarray} written in the given order; metadata: {str: str}; dtypes: {name: "BF16"} for
    tensors to store as BF16 (given as uint16 bits, or float32 to be rounded)."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dt = (dtypes or {}).get(name)
        if dt == "BF16":
            arr = arr if arr.dtype == np.uint16 else f32_to_bf16(arr)
        elif dt is not None and dt != _DT[arr.dtype]:
            raise ValueError(f"{name}: dtype override {dt} for a {arr.dtype} array")
        b = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt or _DT[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)  # pad so the data section starts 8-aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def replace_metadata(path, updates):
    """Sets the given __metadata__ keys of a safetensors file in place (atomically), keeping every tensor's bytes:
    the data section is copied verbatim, only the JSON header (and its padding) changes."""
    with open(path, "rb") as f:
        raw = f.read()
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


def header(path):
    """-> the JSON header {name: {"dtype", "shape", "data_offsets"}, ["__metadata__": {...}]}, data not read."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def load(path, raw_bf16=False):
    """-> (tensors {name: np.ndarray}, metadata {str: str}). BF16 tensors come back as float32, or as their uint16
    bits with raw_bf16=True."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        dt = "U16" if e["dtype"] == "BF16" else e["dtype"]
        out[name] = np.frombuffer(data[a:b], dtype=_NP[dt].newbyteorder("<")).reshape(e["shape"]).copy()
        if e["dtype"] == "BF16" and not raw_bf16:
            out[name] = bf16_to_f32(out[name])
    return out, meta
