"""Converts a PyTorch pickle state dict (diffusers' `diffusion_pytorch_model.bin`, or any torch.save'd state dict)
to safetensors, without running code from the file.

    /usr/bin/python3 training/bin_to_safetensors.py IN.bin [OUT.safetensors] [--verify]

OUT defaults to IN with `.bin` replaced by `.safetensors` (`diffusion_pytorch_model.fp16.bin` ->
`diffusion_pytorch_model.fp16.safetensors`). Tensors keep their dtype (F32, F16, BF16, F64, integer types) and
their names, in the file's order; metadata {"format": "pt"} as diffusers writes it. --verify reads OUT back and
checks every tensor bit for bit against the pickle.

Safety: the pickle is read with `torch.load(path, map_location="cpu", weights_only=True)` (torch 1.13 has it): its
unpickler only builds tensors, storages, dtypes, OrderedDict, torch.Size and Parameter, and refuses any other
global (os.system, builtins.eval, ...) before calling anything. Two holes of torch.load itself are closed first:
a TorchScript archive (a zip with constants.pkl / code/) is refused, because torch <= 2.5.1 hands such a file to
torch.jit.load even with weights_only=True (CVE-2025-32434), and so is the pre-1.0 tar format.
Non-tensor entries (e.g. an "epoch" int next to "state_dict") are dropped with a note.
"""

import argparse
import os
import pickle
import sys
import tarfile
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

_NP_OF = {torch.float32: np.float32, torch.float16: np.float16, torch.float64: np.float64, torch.int64: np.int64,
          torch.int32: np.int32, torch.int16: np.int16, torch.int8: np.int8, torch.uint8: np.uint8,
          torch.bool: np.bool_}


class RefusedFile(Exception):
    """The file is not a plain tensor pickle; nothing in it was executed."""


def _refuse_unsafe_containers(path):
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04" or zipfile.is_zipfile(path):  # torch.load's own zip test is the first 4 bytes
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile as e:
            raise RefusedFile(f"{path}: starts like a zip but does not read as one ({e}), refused") from None
        if any(n == "constants.pkl" or n.endswith("/constants.pkl") or "/code/" in n for n in names):
            raise RefusedFile(f"{path}: a TorchScript archive, not a state dict (refused: torch.load would hand it "
                              "to torch.jit.load even with weights_only=True)")
        return
    if tarfile.is_tarfile(path):
        raise RefusedFile(f"{path}: a tar archive (the pre-1.0 torch.save format), refused")


def load_bin(path):
    """-> {name: torch.Tensor} from a torch pickle, weights only. Raises RefusedFile for anything else."""
    _refuse_unsafe_containers(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        why = str(e).split("WeightsUnpickler error:")[-1].strip()
        raise RefusedFile(f"{path}: refused, the pickle asks for something other than tensors ({why}); nothing "
                          "from it was executed. If you trust the file's source, convert it elsewhere.") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise RefusedFile(f"{path}: holds a {type(obj).__name__}, not a state dict")
    out, dropped = {}, []

    def walk(d, prefix):
        for k, v in d.items():
            name = f"{prefix}{k}"
            if torch.is_tensor(v):
                out[name] = v
            elif isinstance(v, dict):
                walk(v, name + ".")
            else:
                dropped.append(name)

    walk(obj, "")
    if dropped:
        print(f"note: dropped {len(dropped)} non-tensor entries: {', '.join(dropped[:10])}", file=sys.stderr)
    return out


def to_numpy(t):
    """tensor -> (contiguous numpy array, safetensors dtype); BF16 comes back as uint16 bits."""
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16).copy(), "BF16"
    if t.dtype not in _NP_OF:
        raise ValueError(f"dtype {t.dtype} has no safetensors mapping here")
    a = t.numpy().copy()
    return a, st._DT[a.dtype]


def convert(src, dst, metadata=None):
    """src .bin -> dst .safetensors; returns {name: tensor} as read."""
    sd = load_bin(src)
    arrays, dtypes = {}, {}
    for k, v in sd.items():
        arrays[k], dtypes[k] = to_numpy(v)
    st.save(dst, arrays, metadata={"format": "pt", **(metadata or {})}, dtypes=dtypes)
    return sd


def verify(sd, dst):
    """Bit-for-bit comparison of the written file against the tensors read from the pickle."""
    got, _ = st.load(dst, raw_bf16=True)
    hdr = st.header(dst)
    if list(got) != list(sd):
        raise AssertionError("names or order differ")
    for k, v in sd.items():
        a, dt = to_numpy(v)
        if hdr[k]["dtype"] != dt or got[k].shape != a.shape or got[k].tobytes() != a.tobytes():
            raise AssertionError(f"{k}: differs after the round trip")
    return len(sd)


def default_out(src):
    return src[:-4] + ".safetensors" if src.endswith(".bin") else src + ".safetensors"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("src")
    p.add_argument("dst", nargs="?")
    p.add_argument("--verify", action="store_true", help="read the output back and compare bit for bit")
    a = p.parse_args()
    torch.set_num_threads(1)
    dst = a.dst or default_out(a.src)
    try:
        sd = convert(a.src, dst)
    except RefusedFile as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    kinds = sorted({str(v.dtype).replace("torch.", "") for v in sd.values()})
    print(f"wrote {dst}: {len(sd)} tensors, {sum(v.numel() for v in sd.values()):,} values, dtypes {kinds}")
    if a.verify:
        print(f"verified {verify(sd, dst)} tensors bit for bit")


if __name__ == "__main__":
    main()
