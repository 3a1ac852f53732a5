"""Tests of the diffusers tools: diffusers_unet.py (against diffusers' own goldens), diffusers_random.py,
bin_to_safetensors.py (round trip, refusal of code-running pickles) and export_onnx_diffusers.py.

    nice /usr/bin/python3 training/test_diffusers_tools.py [-v]        # about 30 s on one core

Everything it writes goes to a temporary folder. The ONNX test runs the export on the `tiny` preset and, when
bench/node_modules has onnxruntime-web, runs the graph there too (bench/onnx_diffusers_check.mjs).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bin_to_safetensors as b2s  # noqa: E402
import diffusers_unet as du  # noqa: E402
import st  # noqa: E402

SMALL = os.path.join(ROOT, "tests", "data", "diffusers", "small-rgb")
PY = sys.executable
torch.set_num_threads(1)


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def run(*args):
    r = subprocess.run([PY, *args], capture_output=True, text=True)
    if r.returncode:
        raise AssertionError(f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="diffusers-tools-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)


class TestUNetAgainstDiffusersGoldens(Base):
    def test_eps_and_intermediates(self):
        g, _ = st.load(os.path.join(SMALL, "golden.safetensors"))
        inter, _ = st.load(os.path.join(SMALL, "intermediates.safetensors"))
        m = du.load_folder(SMALL)
        self.assertEqual(du.n_params(m), 1_113_955)
        rec = {}
        with torch.no_grad():
            eps = m(torch.from_numpy(g["x"]), torch.from_numpy(g["t"]), record=rec)
        self.assertLess(float((eps - torch.from_numpy(g["eps"])).abs().max()), 1e-5)
        for k, v in inter.items():
            self.assertLess(float((rec[k] - torch.from_numpy(v)).abs().max()), 1e-5, k)
        for k, gk in (("time_proj", "t_emb"), ("time_embedding", "temb"), ("emb_total", "emb_total")):
            self.assertLess(float((rec[k] - torch.from_numpy(g[gk])).abs().max()), 1e-6, k)

    def test_float64(self):
        g, _ = st.load(os.path.join(SMALL, "golden.safetensors"))
        m = du.load_folder(SMALL, dtype=torch.float64)
        x, t = torch.from_numpy(g["x"]).double(), torch.from_numpy(g["t"])
        with torch.no_grad():
            self.assertLess(float((m(x, t) - torch.from_numpy(g["eps_f64"])).abs().max()), 1e-12)
            m.pure_f64 = True
            self.assertLess(float((m(x, t) - torch.from_numpy(g["eps_f64_pure"])).abs().max()), 1e-12)

    def test_old_attention_names_and_scalar_t(self):
        sd, _ = st.load(os.path.join(SMALL, "diffusion_pytorch_model.safetensors"))
        old = {}
        for k, v in sd.items():
            for new, o in (("to_q", "query"), ("to_k", "key"), ("to_v", "value"), ("to_out.0", "proj_attn")):
                k = k.replace(f".{new}.", f".{o}.")
            old[k] = v
        self.assertTrue(any(".proj_attn." in k for k in old))
        cfg = json.loads(read(os.path.join(SMALL, "config.json"), "r"))
        a = du.load_weights(du.UNet2D(cfg).eval(), sd)
        b = du.load_weights(du.UNet2D(cfg).eval(), old)
        x = torch.randn(2, 3, 16, 16)
        with torch.no_grad():
            self.assertTrue(torch.equal(a(x, torch.tensor([7.0, 7.0])), b(x, 7)))
            self.assertTrue(torch.equal(a(x, torch.tensor([7.0, 7.0])), a(x, torch.tensor(7.0))))

    def test_config_defaults_and_refusals(self):
        c = du.resolve_config({"_class_name": "UNet2DModel", "sample_size": 32})
        self.assertEqual(c["attention_head_dim"], 8)  # v0.21.4's default, not null
        self.assertEqual(c["downsample_padding"], 1)
        self.assertEqual(c["norm_eps"], 1e-5)
        self.assertTrue(c["flip_sin_to_cos"])
        for bad in ({"time_embedding_type": "fourier"}, {"resnet_time_scale_shift": "scale_shift"},
                    {"down_block_types": ["SkipDownBlock2D"] * 4}, {"_class_name": "UNet2DConditionModel"}):
            with self.assertRaises(ValueError):
                du.resolve_config(bad)

    def test_state_dict_mismatch_is_reported(self):
        sd, _ = st.load(os.path.join(SMALL, "diffusion_pytorch_model.safetensors"))
        cfg = json.loads(read(os.path.join(SMALL, "config.json"), "r"))
        sd.pop("conv_out.bias")
        with self.assertRaises(ValueError):
            du.load_weights(du.UNet2D(cfg), sd)


class TestRandomFolders(Base):
    def test_cifar10_parameter_count(self):
        from diffusers_random import PRESETS, full_config
        m = du.UNet2D(full_config(PRESETS["cifar10"]))
        self.assertEqual(du.n_params(m), 35_746_307)
        self.assertEqual(len(m.state_dict()), 328)

    def test_tiny_folder_everything(self):
        out = os.path.join(self.tmp, "tiny")
        run(os.path.join(HERE, "diffusers_random.py"), "--preset", "tiny", "--out", out, "--golden", "3",
            "--intermediates", "--f64", "--fp16", "--bf16", "--bin", "--scheduler", "--old-attention-names",
            "--set", "num_class_embeds=5", "--set", "mid_block_scale_factor=1.5", "--set", "downsample_padding=1",
            "--set", "center_input_sample=true")
        sd, meta = st.load(os.path.join(out, "diffusion_pytorch_model.safetensors"))
        self.assertEqual(meta, {"format": "pt"})
        self.assertTrue(any(k.endswith(".query.weight") for k in sd))
        self.assertFalse(any(np.any((v == 0) | (v == 1)) for v in sd.values()))
        self.assertIn(": OK", run(os.path.join(HERE, "diffusers_unet.py"), "--check", out, "--tol", "0"))
        g, _ = st.load(os.path.join(out, "golden.safetensors"))
        self.assertEqual(g["class_labels"].dtype, np.int64)
        self.assertGreater(float(np.abs(g["eps"]).max()), 0.3)
        self.assertLess(float(np.abs(g["eps"]).max()), 20)
        m16 = du.load_folder(out, variant="fp16")
        m32 = du.load_folder(out)
        x, t, y = torch.from_numpy(g["x"]), torch.from_numpy(g["t"]), torch.from_numpy(g["class_labels"])
        mb16 = du.load_folder(out, variant="bf16")
        with torch.no_grad():
            e32 = m32(x, t, y)
            self.assertLess(float((m16(x, t, y) - e32).abs().max()), 0.05)
            self.assertLess(float((mb16(x, t, y) - e32).abs().max()), 0.5)
        hdr = st.header(os.path.join(out, "diffusion_pytorch_model.bf16.safetensors"))
        self.assertEqual({e["dtype"] for k, e in hdr.items() if k != "__metadata__"}, {"BF16"})
        sched = json.loads(read(os.path.join(out, "scheduler_config.json"), "r"))
        self.assertEqual((sched["beta_start"], sched["beta_end"], sched["clip_sample"]), (1e-4, 0.02, True))
        # the .bin holds the same (old-named) state dict
        conv = os.path.join(self.tmp, "tiny-from-bin.safetensors")
        b2s.verify(b2s.convert(os.path.join(out, "diffusion_pytorch_model.bin"), conv), conv)
        self.assertEqual(read(conv),
                         read(os.path.join(out, "diffusion_pytorch_model.safetensors")))

    def test_pipeline_layout(self):
        out = os.path.join(self.tmp, "pipe")
        run(os.path.join(HERE, "diffusers_random.py"), "--preset", "tiny", "--out", out, "--pipeline")
        self.assertTrue(os.path.exists(os.path.join(out, "model_index.json")))
        self.assertTrue(os.path.exists(os.path.join(out, "scheduler", "scheduler_config.json")))
        du.load_folder(out)  # finds unet/


class TestBinToSafetensors(Base):
    def test_round_trip_small_rgb(self):
        src = os.path.join(SMALL, "diffusion_pytorch_model.safetensors")
        sd, _ = st.load(src)
        path = os.path.join(self.tmp, "diffusion_pytorch_model.bin")
        torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, path)
        dst = b2s.default_out(path)
        self.assertTrue(dst.endswith("diffusion_pytorch_model.safetensors"))
        self.assertEqual(b2s.verify(b2s.convert(path, dst), dst), 182)
        self.assertEqual(read(dst), read(src))  # byte for byte diffusers' file

    def test_dtypes_and_legacy_format(self):
        sd = {"bf": torch.randn(3, 5).bfloat16(), "h": torch.randn(4).half(), "view": torch.randn(4, 6)[:, 2:5],
              "i": torch.arange(3), "meta": {"inner": torch.ones(2)}}
        for legacy in (False, True):
            path = os.path.join(self.tmp, f"mixed{int(legacy)}.bin")
            torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
            dst = path + ".safetensors"
            self.assertEqual(b2s.verify(b2s.convert(path, dst), dst), 5)
            hdr = st.header(dst)
            self.assertEqual([hdr[k]["dtype"] for k in ("bf", "h", "view", "i", "meta.inner")],
                             ["BF16", "F16", "F32", "I64", "F32"])
            back, _ = st.load(dst)
            self.assertTrue(np.array_equal(back["bf"], sd["bf"].float().numpy()))

    def test_malicious_pickles_are_refused_unexecuted(self):
        flag = os.path.join(self.tmp, "PWNED")

        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {flag}",))

        class EvilEval:
            def __reduce__(self):
                return (eval, (f"open({flag!r}, 'w')",))

        paths = []
        for i, (obj, legacy) in enumerate((({"w": torch.ones(2), "e": Evil()}, False), ({"e": EvilEval()}, True))):
            p = os.path.join(self.tmp, f"evil{i}.bin")
            torch.save(obj, p, _use_new_zipfile_serialization=not legacy)
            paths.append(p)
        ts = os.path.join(self.tmp, "scripted.bin")
        torch.jit.script(torch.nn.Linear(2, 2)).save(ts)
        paths.append(ts)
        for p in paths:
            with self.assertRaises(b2s.RefusedFile):
                b2s.load_bin(p)
        r = subprocess.run([PY, os.path.join(HERE, "bin_to_safetensors.py"), paths[0]], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("refused", r.stderr)
        self.assertFalse(os.path.exists(flag))
        self.assertFalse(os.path.exists(paths[0][:-4] + ".safetensors"))


class TestOnnxExport(Base):
    def test_tiny_export(self):
        out = os.path.join(self.tmp, "onnx-tiny")
        run(os.path.join(HERE, "diffusers_random.py"), "--preset", "tiny", "--out", out)
        run(os.path.join(HERE, "export_onnx_diffusers.py"), out, "--rounds", "1")
        self.assertGreater(os.path.getsize(os.path.join(out, "model.onnx")), 100_000)
        ref, _ = st.load(os.path.join(out, "reference.safetensors"))
        self.assertEqual(ref["eps_b8"].shape, (8, 1, 8, 8))
        bench = os.path.join(ROOT, "bench")
        if os.path.isdir(os.path.join(bench, "node_modules", "onnxruntime-web")) and shutil.which("node"):
            r = subprocess.run(["node", os.path.join(bench, "onnx_diffusers_check.mjs"), out, "--rounds", "1"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
