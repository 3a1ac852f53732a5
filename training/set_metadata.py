"""Rewrite the __metadata__ of safetensors files without touching a tensor byte.

    /usr/bin/python3 training/set_metadata.py FILE... [--set KEY=VALUE] [--set-json KEY=JSON] [--delete KEY]
                                                      [--delete-field KEY FIELD] [--dry-run]

Only the JSON header changes: its __metadata__ map (every value a string, as safetensors requires), the header length
in the first 8 bytes, and the spaces that pad the header so that the data section starts 8-byte aligned (as
safetensors writes it). The tensor entries keep their order and their bytes ({"dtype", "shape", "data_offsets"}), and
the data section is copied verbatim; the script checks both (the data section's SHA-256 before and after) and
replaces the file atomically. Metadata keys keep their order; new keys come last.

  --set KEY=VALUE          a string value
  --set-json KEY=JSON      a JSON value (checked, stored compact), e.g. ddpm.class_names='["T-shirt/top", ...]'
  --delete KEY             remove a key (absent: nothing to do)
  --delete-field KEY FIELD remove FIELD from the JSON object stored under KEY (e.g. ddpm.eval_protocol guidance)
  --fmnist-class-names     --set-json ddpm.class_names=<the 10 Fashion-MNIST class names> (training/data.py)

How the shipped models got their class names and lost the fields that mean nothing for an unconditional model:

    /usr/bin/python3 training/set_metadata.py models/fmnist-cond.{i8,f16}.safetensors --fmnist-class-names
    /usr/bin/python3 training/set_metadata.py models/fmnist-uncond.{i8,f16}.safetensors \\
        --delete ddpm.label_dropout --delete-field ddpm.eval_protocol guidance
"""

import argparse
import hashlib
import json
import os
import struct
import sys

# the Fashion-MNIST class names, as training/data.py has them (not imported: data.py needs numpy)
FMNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _compact(value):
    return json.dumps(value, separators=(",", ":"))


def read(path):
    """-> (header dict in file order, the data section's bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
    n = struct.unpack("<Q", raw[:8])[0]
    if 8 + n > len(raw):
        raise ValueError(f"{path}: the header length {n} runs past the end of the file")
    return json.loads(raw[8:8 + n].decode("utf-8")), raw[8 + n:]


def encode_header(header):
    """The header as safetensors writes it: compact JSON, padded with spaces to a multiple of 8 bytes."""
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return h + b" " * ((8 - len(h) % 8) % 8)


def edit(meta, sets=(), deletes=(), delete_fields=()):
    """-> a new metadata dict: `sets` [(key, string)], `deletes` [key], `delete_fields` [(key, field)]."""
    meta = dict(meta)
    for key in deletes:
        meta.pop(key, None)
    for key, field in delete_fields:
        if key not in meta:
            continue
        obj = json.loads(meta[key])
        if not isinstance(obj, dict):
            raise ValueError(f"{key} is not a JSON object: {meta[key][:60]}")
        obj.pop(field, None)
        meta[key] = _compact(obj)
    for key, value in sets:
        meta[key] = str(value)
    return meta


def rewrite(path, new_meta, dry_run=False):
    """Replaces the file's __metadata__ by new_meta ({str: str}); returns (data sha256, old meta, new meta)."""
    header, data = read(path)
    old_meta = header.pop("__metadata__", {})
    tensors_before = json.dumps(header, separators=(",", ":"))
    sha_before = hashlib.sha256(data).hexdigest()
    out = {"__metadata__": {str(k): str(v) for k, v in new_meta.items()}} if new_meta else {}
    out.update(header)
    blob = encode_header(out)
    if not dry_run:
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(blob)) + blob + data)
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
        # read back: the tensors' entries and the data section are what they were
        header2, data2 = read(path)
        meta2 = header2.pop("__metadata__", {})
        if json.dumps(header2, separators=(",", ":")) != tensors_before:
            raise RuntimeError(f"{path}: the tensor entries changed")
        if hashlib.sha256(data2).hexdigest() != sha_before:
            raise RuntimeError(f"{path}: the data section changed")
        if meta2 != out.get("__metadata__", {}):
            raise RuntimeError(f"{path}: the metadata did not read back")
        if (8 + struct.unpack("<Q", open(path, "rb").read(8))[0]) % 8:
            raise RuntimeError(f"{path}: the data section is not 8-byte aligned")
    return sha_before, old_meta, out.get("__metadata__", {})


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--set-json", action="append", default=[], metavar="KEY=JSON")
    p.add_argument("--delete", action="append", default=[], metavar="KEY")
    p.add_argument("--delete-field", action="append", nargs=2, default=[], metavar=("KEY", "FIELD"))
    p.add_argument("--fmnist-class-names", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    a = p.parse_args()
    sets = []
    for kv in a.set:
        if "=" not in kv:
            p.error(f"--set needs KEY=VALUE, got {kv!r}")
        sets.append(tuple(kv.split("=", 1)))
    for kv in a.set_json:
        if "=" not in kv:
            p.error(f"--set-json needs KEY=JSON, got {kv!r}")
        k, v = kv.split("=", 1)
        try:
            sets.append((k, _compact(json.loads(v))))
        except json.JSONDecodeError as e:
            p.error(f"--set-json {k}: not JSON ({e})")
    if a.fmnist_class_names:
        sets.append(("ddpm.class_names", _compact(FMNIST_CLASSES)))
    for path in a.files:
        header, _ = read(path)
        meta = header.get("__metadata__", {})
        new = edit(meta, sets, a.delete, [tuple(x) for x in a.delete_field])
        sha, old, new = rewrite(path, new, a.dry_run)
        changed = [k for k in new if old.get(k) != new[k]] + [f"-{k}" for k in old if k not in new]
        print(f"{path}: {'would change' if a.dry_run else 'changed'} {', '.join(changed) or 'nothing'}; "
              f"data section sha256 {sha} (unchanged)")


if __name__ == "__main__":
    sys.exit(main())
