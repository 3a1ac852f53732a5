#!/usr/bin/env python3
"""Writes tests/data/corrupt/*.safetensors and EXPECTED.txt: a corpus of valid and broken weights files.

This script builds the files with Python's json module and numpy, independently of the C parser, so that
tests/test_weights_corrupt.c checks the C code against a second writer. Every file is a variant of one toy
"model" with two tensors:

    conv.weight  [4, 1, 3, 3]   conv.bias  [4]

and a valid ddpm.* config in __metadata__. EXPECTED.txt lists, per file, the status the parser-layer pipeline of
the C test must return: ddpm_st_parse -> ddpm_config_from_metadata -> ddpm_st_read_f32 of both tensors with the
shapes above -> ddpm_st_check_all_used. (Loading them as real models would fail on the config's missing U-Net
tensors; the statuses here are for the container layer.)

It also copies a few of the files to tests/fuzz/corpus/ as seeds for the fuzzer.

Run from anywhere:  /usr/bin/python3 tests/data/make_corrupt.py
"""

import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corrupt")
FUZZ_CORPUS = os.path.join(HERE, "..", "fuzz", "corpus")
# Seeds for tests/fuzz/fuzz_weights.c: a few valid files and one of each broken layer.
FUZZ_SEEDS = ["valid_f32", "valid_f16", "valid_i8", "valid_unaligned", "offsets_overlap", "bad_json",
              "duplicate_key", "missing_metadata", "i8_without_scale", "dtype_u16", "lone_surrogate"]

META = {
    "ddpm.format": "1",
    "ddpm.in_channels": "1",
    "ddpm.out_channels": "1",
    "ddpm.base_channels": "4",
    "ddpm.channel_mult": "1,2",
    "ddpm.num_res_blocks": "1",
    "ddpm.attn_resolutions": "4",
    "ddpm.groups": "2",
    "ddpm.num_classes": "0",
    "ddpm.image_size": "8",
    "ddpm.prediction": "eps",
    "ddpm.schedule": "linear",
    "ddpm.num_timesteps": "10",
    "ddpm.beta_start": "0.0001",
    "ddpm.beta_end": "0.02",
    "dataset": "toy",
}

WEIGHT = (np.arange(36, dtype=np.float32) - 18) * np.float32(0.0625)
BIAS = np.arange(4, dtype=np.float32) * np.float32(0.5) - np.float32(1.0)

DTYPE_NAME = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("i1"): "I8"}


def tensors_to_header(tensors, meta):
    """tensors: list of (name, array, dtype name or None). Returns (header dict, data bytes)."""
    header = {}
    if meta is not None:
        header["__metadata__"] = meta
    data = b""
    for name, arr, dtype in tensors:
        raw = arr.tobytes()
        header[name] = {"dtype": dtype or DTYPE_NAME[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    return header, data


def pack(header_text, data, length=None, pad=0):
    h = header_text.encode("utf-8") if isinstance(header_text, str) else header_text
    h += b" " * pad
    n = len(h) if length is None else length
    return struct.pack("<Q", n) + h + data


def default_tensors(weight=None, bias=None):
    w = WEIGHT.reshape(4, 1, 3, 3).astype("<f4") if weight is None else weight
    b = BIAS.astype("<f4") if bias is None else bias
    return [("conv.weight", w, None), ("conv.bias", b, None)]


def file_from(tensors, meta=META, pad=0):
    header, data = tensors_to_header(tensors, meta)
    return pack(json.dumps(header, separators=(",", ":")), data, pad=pad)


def with_meta(**changes):
    m = dict(META)
    for k, v in changes.items():
        key = "ddpm." + k
        if v is None:
            m.pop(key, None)
        else:
            m[key] = v
    return m


def build():
    files = []  # (name, bytes, expected status)

    def add(name, blob, status):
        files.append((name + ".safetensors", blob, status))

    valid = file_from(default_tensors())
    add("valid_f32", valid, "DDPM_OK")
    add("valid_f16", file_from([("conv.weight", WEIGHT.reshape(4, 1, 3, 3).astype("<f2"), None),
                                ("conv.bias", BIAS.astype("<f2"), None)]), "DDPM_OK")
    q = (np.arange(36) * 7 - 127).astype("i1").reshape(4, 1, 3, 3)
    add("valid_i8", file_from([("conv.weight", q, None),
                               ("conv.weight_scale", np.array([0.5, 0.25, 2, 1], "<f4"), None),
                               ("conv.bias", BIAS.astype("<f4"), None)]), "DDPM_OK")
    add("valid_unaligned", file_from(default_tensors(), pad=3), "DDPM_OK")

    # Container
    add("short_file", valid[:5], "DDPM_ERR_FORMAT")
    add("header_length_zero", struct.pack("<Q", 0) + valid[8:], "DDPM_ERR_FORMAT")
    hlen = struct.unpack("<Q", valid[:8])[0]
    add("truncated_header", valid[:8 + hlen // 2], "DDPM_ERR_FORMAT")
    add("header_length_past_end", struct.pack("<Q", len(valid)) + valid[8:], "DDPM_ERR_FORMAT")
    add("header_length_huge", struct.pack("<Q", 1 << 40) + valid[8:], "DDPM_ERR_TOO_LARGE")
    add("bad_json", pack('{"__metadata__":{"ddpm.format":"1"},"conv.weight":{"dtype":"F32",}}', b""),
        "DDPM_ERR_FORMAT")
    add("header_not_object", pack("[1,2,3]", b""), "DDPM_ERR_FORMAT")
    add("trailing_garbage", pack('{"__metadata__":{}}x', b""), "DDPM_ERR_FORMAT")
    add("duplicate_key", pack('{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},'
                              '"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}', b""), "DDPM_ERR_FORMAT")
    add("nesting_too_deep", pack('{"__metadata__":' + "[" * 20 + "]" * 20 + "}", b""), "DDPM_ERR_FORMAT")
    add("invalid_utf8_key", pack(b'{"conv.\xff":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}', b""),
        "DDPM_ERR_FORMAT")
    add("lone_surrogate", pack('{"__metadata__":{"k":"\\ud800"}}', b""), "DDPM_ERR_FORMAT")
    add("nul_in_key", pack('{"conv\\u0000weight":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}', b""),
        "DDPM_ERR_FORMAT")
    add("offset_int_overflow", pack('{"x":{"dtype":"F32","shape":[0],"data_offsets":[0,99999999999999999999]}}',
                                    b""), "DDPM_ERR_FORMAT")

    # Tensor entries
    def mutate(fn, tensors=None):
        header, data = tensors_to_header(tensors or default_tensors(), META)
        fn(header)
        return pack(json.dumps(header, separators=(",", ":")), data)

    add("dtype_u16", mutate(lambda h: h["conv.bias"].update(dtype="U16", shape=[8])), "DDPM_ERR_UNSUPPORTED")
    add("dtype_f64", mutate(lambda h: h["conv.bias"].update(dtype="F64", shape=[2])), "DDPM_ERR_UNSUPPORTED")
    add("rank_5", mutate(lambda h: h["conv.weight"].update(shape=[4, 1, 3, 3, 1])), "DDPM_ERR_UNSUPPORTED")
    add("negative_dim", mutate(lambda h: h["conv.bias"].update(shape=[-4])), "DDPM_ERR_FORMAT")
    add("shape_bytes_mismatch", mutate(lambda h: h["conv.bias"].update(shape=[5])), "DDPM_ERR_FORMAT")
    add("offsets_out_of_range", mutate(lambda h: h["conv.bias"].update(data_offsets=[148, 164])), "DDPM_ERR_FORMAT")
    add("offsets_overlap", mutate(lambda h: h["conv.bias"].update(data_offsets=[136, 152])), "DDPM_ERR_FORMAT")
    add("offsets_begin_gt_end", mutate(lambda h: h["conv.bias"].update(data_offsets=[160, 144])), "DDPM_ERR_FORMAT")
    add("missing_dtype", mutate(lambda h: h["conv.bias"].pop("dtype")), "DDPM_ERR_FORMAT")
    add("shape_is_string", mutate(lambda h: h["conv.bias"].update(shape="4")), "DDPM_ERR_FORMAT")

    # Metadata / config
    add("missing_metadata", file_from(default_tensors(), meta=None), "DDPM_ERR_CONFIG")
    add("metadata_not_strings", file_from(default_tensors(), meta={"ddpm.format": 1}), "DDPM_ERR_FORMAT")
    add("format_2", file_from(default_tensors(), meta=with_meta(format="2")), "DDPM_ERR_UNSUPPORTED")
    add("missing_groups", file_from(default_tensors(), meta=with_meta(groups=None)), "DDPM_ERR_CONFIG")
    add("groups_not_dividing", file_from(default_tensors(), meta=with_meta(groups="3")), "DDPM_ERR_CONFIG")
    add("image_size_junk", file_from(default_tensors(), meta=with_meta(image_size="8px")), "DDPM_ERR_CONFIG")
    add("image_size_too_large", file_from(default_tensors(), meta=with_meta(image_size="4096")),
        "DDPM_ERR_TOO_LARGE")
    add("odd_level_resolution", file_from(default_tensors(), meta=with_meta(image_size="6", channel_mult="1,1,1")),
        "DDPM_ERR_CONFIG")
    add("schedule_unknown", file_from(default_tensors(), meta=with_meta(schedule="exp")), "DDPM_ERR_CONFIG")
    add("beta_not_number", file_from(default_tensors(), meta=with_meta(beta_end="0.02f")), "DDPM_ERR_CONFIG")

    # Binding
    add("missing_tensor", file_from(default_tensors()[:1]), "DDPM_ERR_MISSING_TENSOR")
    add("wrong_shape", file_from(default_tensors(bias=np.zeros(5, "<f4"))), "DDPM_ERR_SHAPE")
    add("i8_without_scale", file_from([("conv.weight", q, None), ("conv.bias", BIAS.astype("<f4"), None)]),
        "DDPM_ERR_MISSING_TENSOR")
    add("i8_scale_wrong_shape", file_from([("conv.weight", q, None),
                                           ("conv.weight_scale", np.ones(3, "<f4"), None),
                                           ("conv.bias", BIAS.astype("<f4"), None)]), "DDPM_ERR_SHAPE")
    w = WEIGHT.reshape(4, 1, 3, 3).astype("<f4").copy()
    w[1, 0, 1, 1] = np.nan
    add("nan_in_data", file_from(default_tensors(weight=w)), "DDPM_ERR_FORMAT")
    b16 = BIAS.astype("<f2").copy()
    b16[2] = np.inf
    add("inf_in_f16", file_from(default_tensors(bias=b16)), "DDPM_ERR_FORMAT")
    add("unexpected_tensor", file_from(default_tensors() + [("conv.extra", np.zeros(2, "<f4"), None)]),
        "DDPM_ERR_FORMAT")
    return files


def main():
    os.makedirs(OUT, exist_ok=True)
    files = build()
    for name in os.listdir(OUT):  # drop files of older versions of this script
        if name.endswith(".safetensors"):
            os.remove(os.path.join(OUT, name))
    lines = ["# Generated by tests/data/make_corrupt.py; do not edit.",
             "# <file> <status of parse -> config -> read conv.weight [4,1,3,3], conv.bias [4] -> all used>"]
    for name, blob, status in files:
        assert len(blob) < 4096, name
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)
        lines.append(f"{name} {status}")
    with open(os.path.join(OUT, "EXPECTED.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.makedirs(FUZZ_CORPUS, exist_ok=True)
    by_name = {name: blob for name, blob, _ in files}
    for seed in FUZZ_SEEDS:
        with open(os.path.join(FUZZ_CORPUS, seed + ".safetensors"), "wb") as f:
            f.write(by_name[seed + ".safetensors"])
    print(f"wrote {len(files)} files to {OUT} and {len(FUZZ_SEEDS)} seeds to {os.path.normpath(FUZZ_CORPUS)}")


if __name__ == "__main__":
    main()
