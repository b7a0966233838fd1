#!/usr/bin/env python
"""Peak host memory of `SLAForSessionScoring.from_backbone` on a scaled-up Phi-4 stand-in, against the size of the
weights it loads: does building the model hold a second full copy of the backbone in host memory?

    sla measure-loading-memory [--hidden 1536] [--layers 12] [--device-map cpu]

Each measurement runs in a fresh process (peak resident memory after imports, then after building), so the figures
are not mixed. On a GPU machine, `--device-map cuda` shows what stays on the host when the weights go straight to
the GPU.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap


WORKER = textwrap.dedent(
    """
    import json, sys
    import torch

    import threading, time

    def status_mb(field):  # from /proc (ru_maxrss would keep the parent's peak across exec)
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024

    peak_anonymous = [0.0]

    def sample():  # anonymous memory (not the checkpoint's memory-mapped pages), every 10 ms
        while True:
            peak_anonymous[0] = max(peak_anonymous[0], status_mb("RssAnon"))
            time.sleep(0.01)

    threading.Thread(target=sample, daemon=True).start()

    from modeling_sla import SLAForSessionScoring
    folder, device_map, dtype = sys.argv[1], sys.argv[2], getattr(torch, sys.argv[3])
    before = status_mb("RssAnon")
    model = SLAForSessionScoring.from_backbone(
        f"{folder}/phi4-multimodal", f"{folder}/whisper", dtype=dtype, attn_implementation="sdpa",
        device_map=None if device_map == "none" else device_map)
    time.sleep(0.05)
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    print(json.dumps({"anonymous_after_imports_mb": before, "peak_anonymous_mb": peak_anonymous[0],
                      "peak_rss_mb": status_mb("VmHWM"), "model_mb": weights}, allow_nan=False))
    """
)


def build_stand_in(folder: str, hidden: int, layers: int, dtype: str) -> None:
    """The stand-in, its weights saved in `dtype` as the real checkpoint's are (bfloat16)."""
    import torch
    from transformers import Phi4MultimodalForCausalLM

    from sla_phi4.testing.stand_ins import build_backbone, tiny_size, whisper_folder

    size = tiny_size("tiny")
    size["phi4_multimodal"] = {**size["phi4_multimodal"], "hidden_size": hidden, "num_hidden_layers": layers,
                               "num_attention_heads": hidden // 128, "intermediate_size": hidden * 8 // 3}
    whisper_folder("random", os.path.join(folder, "whisper"), size)
    backbone = os.path.join(folder, "phi4-multimodal")
    build_backbone("phi4", backbone, size, None)
    Phi4MultimodalForCausalLM.from_pretrained(backbone, dtype=getattr(torch, dtype)).save_pretrained(backbone)


def measure(folder: str, device_map: str, dtype: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", WORKER, folder, device_map, dtype],
        capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_loading_memory(hidden: int = 1536, layers: int = 12, device_map: str = "cpu",
                           dtype: str = "bfloat16") -> dict:
    """Builds the scaled-up stand-in, then measures `from_backbone` in fresh processes without a device map and with
    `device_map`; prints the table and returns the figures."""
    with tempfile.TemporaryDirectory(prefix="sla-loading-") as folder:
        build_stand_in(folder, hidden, layers, dtype)
        on_disk = sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(folder)
                      for name in names if name.endswith(".safetensors")) / 2**20
        results = {mode: measure(folder, mode, dtype) for mode in dict.fromkeys(("none", device_map))}
    print(f"Scaled-up Phi-4 stand-in: {layers} layers x {hidden} wide; {on_disk:.0f} MB of {dtype} "
          f"safetensors on disk (backbone and Whisper).")
    print(f"{'device_map':>10} {'model MB':>9} {'anon. growth MB':>16} {'/ model':>8} "
          f"{'peak RSS MB (with mapped file)':>31}")
    for mode, figures in results.items():
        grown = figures["peak_anonymous_mb"] - figures["anonymous_after_imports_mb"]
        print(f"{mode:>10} {figures['model_mb']:9.0f} {grown:16.0f} {grown / figures['model_mb']:8.2f} "
              f"{figures['peak_rss_mb']:31.0f}")
    return {"on_disk_mb": on_disk, "results": results}
