#!/usr/bin/env python
"""Measures sla-phi4 on this machine with a tiny model whose three parts keep the real model's shares of the work.

    sla benchmark [--quick] [--output benchmark.json] [--repeats 3] [--backbone all]
    sla benchmark --paper-only [--backbone phi4|voxtral|qwen2-audio|all] [--text-tokens 300]

Every comparison is a ratio of two medians measured side by side in the same run. Sections:
  shares     analytic FLOPs per session of decoder : conformer : Whisper (real model and tiny stand-in), and the
             measured time shares of the tiny stand-in
  processor  seconds of audio turned into model inputs per second
  featurizing  real-length sessions read from files and featurized per second on one core and by 2 worker
             processes (`sla score --num_workers`): how many cores keep a GPU fed
  training   one training step per session: frozen encoders run every step vs. cached encoder outputs
  scoring    sessions per second one at a time vs. batched with length grouping (batch size 8), each session its own
             passes (the default) and padded together (opt-in)
  long       time and peak RSS (fresh subprocess per size) at 1, 2, 4, 8, 16 minutes of audio
  paper      real sizes on paper, per backbone family (real configs, `real_size.py`): decoder, audio tower and APP
             Whisper FLOPs per session, and the H100 floor time for scoring and for 3 epochs of S&I train
"""

import itertools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy as np
import soundfile
import torch


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

from sla_phi4.analysis.real_configs import load_real_config
from sla_phi4.analysis.real_size import (
    SETTINGS,
    decoder_flops,
    family_rows,
    format_family_table,
    session_flops,
    session_windows,
    whisper_flops,
)
from sla_phi4.data.sessions import session_seconds


# A real Speak & Improve session: P1 6 x 15 s, P3 and P4 58 s, P5 5 x 19 s (301 s of speech).
REAL_SESSION = list(SETTINGS.session)
H100_BF16_FLOPS = SETTINGS.h100_bf16_dense_flops
SAMPLING_RATE = 16_000
LONG_MINUTES = [1, 2, 4, 8, 16]
QUICK_LONG_MINUTES = [0.5]
BACKBONES = [*SETTINGS.families, "all"]
FEATURIZING_WORKERS = 2  # this machine's cores; a GPU host gives `sla score` up to 8


# ----------------------------------------------------------------------------------------------- analytic FLOPs
def real_configs() -> tuple:
    """Phi-4-multimodal and Whisper-large-v3 as published (`sla_phi4/analysis/backbones/`)."""
    return load_real_config("phi4_multimodal"), load_real_config(SETTINGS.app_encoder)


def flops_per_session(config, session_lengths: list[float], text_tokens: int = SETTINGS.text_tokens) -> dict:
    """Analytic forward FLOPs of one session per part (`real_size.session_flops`). `config` is `(phi4_config,
    whisper_config)` or an `SLAConfig`; `session_lengths` the response durations in seconds."""
    if isinstance(config, tuple):
        phi4, whisper = config
    else:
        phi4, whisper = config.audio_llm_config, config.app_encoder_config
    flops = session_flops(phi4, whisper, session_lengths, text_tokens)
    return {"decoder": flops.decoder, "conformer": flops.audio_tower, "whisper": flops.app_whisper,
            "total": flops.total, "tokens": flops.tokens, "whisper_windows": flops.app_windows}


def shares(flops: dict) -> dict:
    parts = ("decoder", "conformer", "whisper")
    total = sum(flops[part] for part in parts)
    return {part: flops[part] / total for part in parts}


# ------------------------------------------------------------------------------------------- proportional tiny
def proportional_tiny_size(decoder_hidden: int = 96, decoder_layers: int = 2, lengths: list[float] | None = None) -> dict:
    """Tiny widths (a sla_phi4/testing/stand_ins/tiny_sizes.json entry) whose analytic shares decoder : conformer : Whisper on a session
    of `lengths` (default: a real one) match the real model's shares on a real session. The decoder's width is
    given; the encoders' are solved."""
    from sla_phi4.testing.stand_ins import tiny_size as named_size

    target = shares(flops_per_session(real_configs(), [seconds for _, seconds in REAL_SESSION]))
    lengths = lengths or [seconds for _, seconds in REAL_SESSION]
    base = named_size("tiny")
    base["phi4_multimodal"] = {**base["phi4_multimodal"], "hidden_size": decoder_hidden,
                               "intermediate_size": 2 * decoder_hidden, "num_hidden_layers": decoder_layers}
    best, best_error = None, float("inf")
    for audio_hidden, audio_blocks, whisper_dim, whisper_layers in itertools.product(
        range(8, 257, 8), (1, 2, 3, 4), range(8, 257, 8), (1, 2, 3, 4)
    ):
        size = {**base, "phi4_multimodal": {**base["phi4_multimodal"], "conformer_hidden_size": audio_hidden,
                                            "conformer_blocks": audio_blocks},
                "app_whisper": {**base["app_whisper"], "d_model": whisper_dim, "encoder_layers": whisper_layers}}
        got = shares(flops_per_session(tiny_configs(size), lengths))
        error = sum(math.log(got[part] / target[part]) ** 2 for part in target)
        if error < best_error:
            best, best_error = size, error
    return best


def tiny_configs(size: dict) -> tuple:
    """The configs `stand_ins` builds for `size` (real structure: 24:8 heads as 6:2, the conformer's 1.5x
    feed-forward, Whisper's 4x and 128 mels), as light namespaces for analytic FLOPs only."""
    phi4_size, whisper_size = size["phi4_multimodal"], size["app_whisper"]
    audio_width = phi4_size["conformer_hidden_size"]
    audio = SimpleNamespace(
        hidden_size=audio_width, intermediate_size=audio_width * 3 // 2, num_blocks=phi4_size["conformer_blocks"],
        ext_pw_out_channel=audio_width, depthwise_separable_out_channel=audio_width,
        nemo_conv_channels=phi4_size["conformer_channels"], time_reduction=8, input_size=80, nemo_final_size=10,
        kernel_size=3,
    )
    heads = phi4_size["num_attention_heads"]
    phi4 = SimpleNamespace(
        model_type="phi4_multimodal", hidden_size=phi4_size["hidden_size"],
        intermediate_size=phi4_size["intermediate_size"], num_hidden_layers=phi4_size["num_hidden_layers"],
        num_attention_heads=heads, num_key_value_heads=heads // 3, head_dim=None, audio_config=audio,
    )
    whisper = SimpleNamespace(d_model=whisper_size["d_model"], encoder_layers=whisper_size["encoder_layers"],
                              encoder_ffn_dim=4 * whisper_size["d_model"], num_mel_bins=128, max_source_positions=1500)
    return phi4, whisper


def load_processor(folder: str):
    """The processor of a benchmark checkpoint."""
    from processing_sla import SLAProcessor

    return SLAProcessor.from_pretrained(folder)


def build_checkpoint(folder: str, size: dict, seed: int = 0) -> str:
    """Assembles a checkpoint of `size` exactly as `build_tiny_checkpoint` does."""
    from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint

    return build_tiny_checkpoint(folder, seed=seed, size=size, attn_implementation="sdpa")


# --------------------------------------------------------------------------------------------------- sessions
def noise_clip(seconds: float, seed: int) -> np.ndarray:
    """Amplitude-modulated noise, as tests/conftest.py's `noise_clip`."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * SAMPLING_RATE)
    envelope = 0.5 + 0.5 * np.sin(np.linspace(0, 6 * np.pi * seconds, samples))
    return (0.1 * envelope * rng.standard_normal(samples)).astype(np.float32)


def make_session(session_id: str, scale: float, seed: int = 0) -> dict:
    """A session with the real part durations times `scale`, and marks (so it is also a training row)."""
    responses = [
        {"response_id": f"{session_id}-{part}{index}", "part": part,
         # distinct lengths, as in real data: equal-length clips over 40 s crash the conformer when batched
         "audio": noise_clip(max(seconds * scale, 0.5) + 0.05 * index, seed + index),
         "question": f"Question {index} of {part}?" if part in ("P1", "P5") else None}
        for index, (part, seconds) in enumerate(REAL_SESSION)
    ]
    return {"session_id": session_id, "responses": responses,
            "P1": 4.0, "P3": 3.5, "P4": 4.5, "P5": 4.0, "overall": 4.0}


def session_lengths(session: dict) -> list[float]:
    return [len(response["audio"]) / SAMPLING_RATE for response in session["responses"]]


def peak_rss_mb() -> float:
    """Peak resident memory of this process since its start or the last `reset_peak_rss` (VmHWM; ru_maxrss where
    /proc is missing, which also counts a parent's peak inherited across fork)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        pass


def median_time(function, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(functions: list, repeats: int) -> list[float]:
    """The median time of each function over `repeats` rounds in which each runs once, in turn."""
    times = [[] for _ in functions]
    for _ in range(repeats):
        for function, measured in zip(functions, times):
            start = time.perf_counter()
            function()
            measured.append(time.perf_counter() - start)
    return [statistics.median(measured) for measured in times]


# ------------------------------------------------------------------------------------------------- sections
def measure_shares(model, processor, session: dict, size, repeats: int) -> dict:
    lengths = session_lengths(session)
    inputs = processor(session)
    real = shares(flops_per_session(real_configs(), [s for _, s in REAL_SESSION]))
    tiny_real_session = shares(flops_per_session(tiny_configs(size), [s for _, s in REAL_SESSION]))
    tiny_flops = flops_per_session(model.config, lengths, text_tokens=int(inputs["input_ids"].shape[1])
                                   - int(inputs["audio_embed_sizes"].sum()))
    with torch.no_grad():
        audio_embeds = model.encode_speech(inputs["audio_input_features"], inputs["audio_feature_lengths"],
                                           inputs["audio_embed_sizes"])
        app_pooled = model.pool_app_features(inputs["app_input_features"], inputs["app_frame_counts"],
                                             inputs["app_window_session"], 1)
        times = {
            "conformer": median_time(lambda: model.encode_speech(
                inputs["audio_input_features"], inputs["audio_feature_lengths"], inputs["audio_embed_sizes"]),
                repeats),
            "whisper": median_time(lambda: model.pool_app_features(
                inputs["app_input_features"], inputs["app_frame_counts"], inputs["app_window_session"], 1),
                repeats),
            "decoder": median_time(lambda: model(input_ids=inputs["input_ids"],
                                                 attention_mask=inputs["attention_mask"],
                                                 audio_embeds=audio_embeds, app_pooled=app_pooled), repeats),
        }
    total = sum(times.values())
    return {
        "real_session_analytic_real_model": real,
        "real_session_analytic_tiny_model": tiny_real_session,
        "bench_session_analytic_tiny_model": shares(tiny_flops),
        "bench_session_measured_tiny_model": {part: times[part] / total for part in times},
        "bench_session_seconds": {part: times[part] for part in times},
        "bench_session_gflop": {part: tiny_flops[part] / 1e9 for part in ("decoder", "conformer", "whisper")},
        "bench_session_gflops_per_s": {part: tiny_flops[part] / times[part] / 1e9 for part in times},
        "tiny_sizes": size,
    }


def measure_processor(processor, session: dict, repeats: int) -> dict:
    audio = [response["audio"] for response in processor.ordered_responses(session)]
    seconds = session_seconds(session)
    total = median_time(lambda: processor(session), repeats)
    phi4_features = median_time(lambda: [processor.audio_units(array) for array in audio], repeats)
    whisper_features = median_time(lambda: processor.session_app_features(audio), repeats)
    return {
        "audio_seconds": seconds,
        "seconds_per_session": total,
        "audio_seconds_per_second": seconds / total,
        "phi4_features_share": phi4_features / total,
        "whisper_features_share": whisper_features / total,
    }


def write_session_files(session: dict, folder: str) -> dict:
    """The session with each response's audio written to a FLAC file in `folder` (as `sla score` reads them)."""
    responses = []
    for response in session["responses"]:
        path = os.path.join(folder, f"{response['response_id']}.flac")
        soundfile.write(path, response["audio"], SAMPLING_RATE)
        responses.append({**response, "audio": path})
    return {**session, "responses": responses}


def measure_featurizing(processor, rows: list[dict], repeats: int, workers: int) -> dict:
    """Sessions read from files and featurized per second, by the main process on one core and by `workers` worker
    processes (`sla score --num_workers`; one torch thread each), taking turns: how the processor's work scales
    with cores, and so how many cores keep a GPU fed at a given rate (the model does not run here)."""
    from sla_phi4.evaluation.featurizing import loaded_batches

    batches = [[index] for index in range(len(rows))]

    def featurize(num_workers: int):
        return lambda: sum(len(batch.indices) for batch in loaded_batches(processor, rows, batches,
                                                                          num_workers=num_workers))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        featurize(0)()  # warm-up: the VAD model and the feature extractors' filter banks
        inline, ahead = interleaved_medians([featurize(0), featurize(workers)], repeats)
    finally:
        torch.set_num_threads(threads)
    seconds = statistics.mean(session_seconds(row) for row in rows)
    per_core = len(rows) / inline
    return {"sessions": len(rows), "mean_audio_seconds": seconds, "workers": workers,
            "one_core_sessions_per_s": per_core, "workers_sessions_per_s": len(rows) / ahead,
            "speedup_workers_vs_one_core": inline / ahead,
            "cores_per_8_sessions_per_s": 8 / (len(rows) / ahead / workers) + 1}


def training_step(model, optimizer, batch: dict) -> None:
    model.train()
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def measure_training(model, processor, rows: list[dict], repeats: int) -> dict:
    from sla_phi4.training import SessionCache, SessionCollator

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    # Encoders every step (the inputs already featurized), as with --cache_encoders false minus the processor.
    featurized = dict(processor(rows))
    featurized["labels"], featurized["labels_mask"] = processor.labels_from_scores(rows)
    uncached = median_time(lambda: training_step(model, optimizer, featurized), repeats)
    # --cache_encoders false: the collator runs the processor and the encoders every step.
    no_cache = SessionCollator(processor, None, "sla")
    collator_uncached = median_time(lambda: training_step(model, optimizer, no_cache(rows)), repeats)
    # --cache_encoders (default): conformer outputs and pooled Whisper states computed once.
    start = time.perf_counter()
    cache = SessionCache(model, processor)
    cache.add(rows, "cache")
    cache_build = time.perf_counter() - start
    collator = SessionCollator(processor, cache, "sla")
    cached = median_time(lambda: training_step(model, optimizer, collator(rows)), repeats)
    model.eval()
    n = len(rows)
    return {
        "batch_sessions": n,
        "encoders_every_step_s_per_session": uncached / n,
        "processor_and_encoders_every_step_s_per_session": collator_uncached / n,
        "cached_s_per_session": cached / n,
        "cache_build_s_per_session": cache_build / n,
        "speedup_cached_vs_encoders": uncached / cached,
        "speedup_cached_vs_processor_and_encoders": collator_uncached / cached,
    }


def measure_scoring(model, processor, rows: list[dict], repeats: int, batch_size: int = 8) -> dict:
    """Sessions/s one at a time, in length-grouped batches under the model's default settings (each session its own
    passes), and in the same batches padded together (`session_batching="padded"`, opt-in), side by side: with the
    processor, and the model alone on inputs prepared beforehand (the processor's share is noisy on a busy machine)."""
    order = np.argsort([session_seconds(row) for row in rows], kind="stable")
    batches = [[rows[i] for i in order[start:start + batch_size]] for start in range(0, len(rows), batch_size)]
    prepared_rows = [processor(row) for row in rows]
    prepared_batches = [processor(batch) for batch in batches]

    def scored(groups: list, mode: str, prepared: bool):
        def run():
            default, model.config.session_batching = model.config.session_batching, mode
            try:
                with torch.no_grad():
                    for group in groups:
                        model(**(group if prepared else processor(group)))
            finally:
                model.config.session_batching = default
        return run

    default = model.config.session_batching
    # the model is warm from the sections before; the ways take turns, so a busy machine slows each alike
    single, grouped, padded, model_single, model_grouped, model_padded = interleaved_medians([
        scored(rows, default, False), scored(batches, default, False), scored(batches, "padded", False),
        scored(prepared_rows, default, True), scored(prepared_batches, default, True),
        scored(prepared_batches, "padded", True)], repeats)
    real_tokens = sum(int(inputs["attention_mask"].sum()) for inputs in prepared_batches)
    padded_tokens = sum(inputs["attention_mask"].numel() for inputs in prepared_batches)
    return {
        "sessions": len(rows),
        "batch_size": batch_size,
        "session_batching": default,
        "one_at_a_time_sessions_per_s": len(rows) / single,
        "batched_sessions_per_s": len(rows) / grouped,
        "speedup_batched_vs_single": single / grouped,
        "padded_sessions_per_s": len(rows) / padded,
        "speedup_padded_vs_single": single / padded,
        "model_only_speedup_batched_vs_single": model_single / model_grouped,
        "model_only_speedup_padded_vs_single": model_single / model_padded,
        "batched_decoder_padding_fraction": 1 - real_tokens / padded_tokens,
    }


def long_worker(checkpoint: str, minutes: float) -> dict:
    """Runs in a fresh process: scores one session of `minutes` of audio, reports times and peak RSS."""
    from modeling_sla import SLAForSessionScoring

    torch.set_num_threads(torch.get_num_threads())
    model = SLAForSessionScoring.from_pretrained(checkpoint).eval()
    processor = load_processor(checkpoint)
    session = make_session("long", minutes * 60 / sum(s for _, s in REAL_SESSION))
    baseline_mb = peak_rss_mb()
    start = time.perf_counter()
    inputs = processor(session)
    processor_s = time.perf_counter() - start
    with torch.no_grad():
        start = time.perf_counter()
        audio_embeds = model.encode_speech(inputs["audio_input_features"], inputs["audio_feature_lengths"],
                                           inputs["audio_embed_sizes"])
        conformer_s = time.perf_counter() - start
        start = time.perf_counter()
        app_pooled = model.pool_app_features(inputs["app_input_features"], inputs["app_frame_counts"],
                                             inputs["app_window_session"], 1)
        whisper_s = time.perf_counter() - start
        start = time.perf_counter()
        model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], audio_embeds=audio_embeds,
              app_pooled=app_pooled)
        decoder_s = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    return {
        "minutes": minutes, "tokens": int(inputs["input_ids"].shape[1]),
        "whisper_windows": int(inputs["app_input_features"].shape[0]),
        "processor_s": processor_s, "conformer_s": conformer_s, "whisper_s": whisper_s, "decoder_s": decoder_s,
        "total_s": processor_s + conformer_s + whisper_s + decoder_s,
        "baseline_rss_mb": baseline_mb, "peak_rss_mb": peak_mb, "growth_rss_mb": peak_mb - baseline_mb,
    }


def measure_long(checkpoint: str, minutes_list: list[float]) -> list[dict]:
    results = []
    for minutes in minutes_list:
        out = subprocess.run(
            [sys.executable, "-m", "sla_phi4", "benchmark", "--_long-worker", checkpoint, str(minutes)],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )
        if out.returncode != 0:
            raise RuntimeError(f"long-session worker ({minutes} min) failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def paper_figures(backbone: str = "all", text_tokens: int = SETTINGS.text_tokens) -> dict:
    """Real sizes on paper per backbone family (`real_size.family_rows`): FLOPs per session and the H100 bf16 floor
    for scoring and for 3 epochs of training, plus what the APP's window packing saves."""
    families = list(SETTINGS.families) if backbone == "all" else [backbone]
    lengths = SETTINGS.session_lengths
    rows = family_rows(families, text_tokens)
    return {
        "session_seconds": sum(lengths),
        "responses": len(lengths),
        "text_tokens": text_tokens,
        "app_windows_packed": session_windows(lengths),
        "app_windows_per_response": session_windows(lengths, packed=False),
        "tflop_app_whisper_if_per_response": whisper_flops(load_real_config(SETTINGS.app_encoder), lengths,
                                                          packed=False) / 1e12,
        "h100_bf16_dense_tflops": SETTINGS.h100_bf16_dense_flops / 1e12,
        "train_hours": SETTINGS.train_hours,
        "train_epochs": SETTINGS.train_epochs,
        "train_sessions": rows[0]["train_sessions"],
        "families": {row["family"]: row for row in rows},
    }


def measure_cuda_fraction(repeats: int = 3) -> dict | None:
    """On CUDA only: times the real-size decoder forward on a real-length session (random weights, bf16) and
    reports the achieved fraction of the H100 floor. Not exercised on CPU."""
    if not torch.cuda.is_available():
        return None
    from transformers import Phi4MultimodalModel

    phi4, _ = real_configs()
    tokens = flops_per_session(real_configs(), [s for _, s in REAL_SESSION])["tokens"]
    with torch.device("cuda"):
        model = Phi4MultimodalModel(phi4).to(torch.bfloat16).eval()
        embeds = torch.randn(1, tokens, phi4.hidden_size, dtype=torch.bfloat16)

    def forward():
        with torch.no_grad():
            model(inputs_embeds=embeds, use_cache=False)
        torch.cuda.synchronize()

    seconds = median_time(forward, repeats)
    floor = decoder_flops(phi4, tokens) / H100_BF16_FLOPS
    return {"device": torch.cuda.get_device_name(), "decoder_forward_s": seconds, "floor_s": floor,
            "fraction_of_floor": floor / seconds}


# ---------------------------------------------------------------------------------------------------- table
def format_table(report: dict) -> str:
    lines = []
    add = lines.append
    s = report["shares"]
    add(f"== sla-phi4 benchmark ({report['meta']['mode']}, {report['meta']['cpu_threads']} CPU threads, "
        f"torch {report['meta']['torch']}) ==")
    add("")
    add("Shares of the work per session          decoder  conformer  whisper")
    for key, label in [("real_session_analytic_real_model", "real model, real session (FLOPs)"),
                       ("real_session_analytic_tiny_model", "tiny model, real session (FLOPs)"),
                       ("bench_session_analytic_tiny_model", "tiny model, bench session (FLOPs)"),
                       ("bench_session_measured_tiny_model", "tiny model, bench session (time)")]:
        row = s[key]
        add(f"  {label:<38}{row['decoder']:7.1%}  {row['conformer']:9.1%}  {row['whisper']:7.1%}")
    g = s["bench_session_gflops_per_s"]
    add(f"  achieved GFLOP/s (tiny, this CPU)     {g['decoder']:7.1f}  {g['conformer']:9.1f}  {g['whisper']:7.1f}")
    add(f"  tiny widths: {s['tiny_sizes']}")
    add("")
    p = report["processor"]
    add(f"Processor: {p['audio_seconds']:.0f} s session in {p['seconds_per_session']:.3f} s = "
        f"{p['audio_seconds_per_second']:.0f} s of audio per second "
        f"(Phi-4 features {p['phi4_features_share']:.0%}, Whisper windows+features {p['whisper_features_share']:.0%})")
    f = report["featurizing"]
    add(f"Featurizing {f['sessions']} sessions of {f['mean_audio_seconds']:.0f} s from FLAC files (sla score's "
        f"workers, no model): one core {f['one_core_sessions_per_s']:.2f} sessions/s, {f['workers']} worker "
        f"processes {f['workers_sessions_per_s']:.2f} sessions/s, ratio {f['speedup_workers_vs_one_core']:.2f}x; "
        f"feeding 8 sessions/s takes about {f['cores_per_8_sessions_per_s']:.0f} cores at this rate")
    add("")
    t = report["training"]
    add(f"Training step (batch of {t['batch_sessions']}), s per session:")
    add(f"  processor + encoders every step (collator, --cache_encoders false) {t['processor_and_encoders_every_step_s_per_session']:.3f}")
    add(f"  encoders every step (featurized inputs)                           {t['encoders_every_step_s_per_session']:.3f}")
    add(f"  cached audio_embeds + app_pooled (SessionCache)                    {t['cached_s_per_session']:.3f}")
    add(f"  one-time cache build                                              {t['cache_build_s_per_session']:.3f}")
    add(f"  ratio encoders/cached = {t['speedup_cached_vs_encoders']:.2f}x; "
        f"processor+encoders/cached = {t['speedup_cached_vs_processor_and_encoders']:.2f}x")
    add("")
    c = report["scoring"]
    add(f"Scoring {c['sessions']} sessions (processor + model): one at a time {c['one_at_a_time_sessions_per_s']:.2f}"
        f" sessions/s, length-grouped batches of {c['batch_size']} ({c['session_batching']}, the default) "
        f"{c['batched_sessions_per_s']:.2f} sessions/s, ratio {c['speedup_batched_vs_single']:.2f}x; padded together "
        f"(opt-in) {c['padded_sessions_per_s']:.2f} sessions/s, ratio {c['speedup_padded_vs_single']:.2f}x (decoder "
        f"padding {c['batched_decoder_padding_fraction']:.1%}); the model alone: batched "
        f"{c['model_only_speedup_batched_vs_single']:.2f}x, padded {c['model_only_speedup_padded_vs_single']:.2f}x")
    add("")
    add("Long sessions (fresh process each)  tokens  windows  processor  conformer  whisper  decoder   total  "
        "peak RSS  growth")
    for r in report["long"]:
        add(f"  {r['minutes']:5g} min                       {r['tokens']:7d}  {r['whisper_windows']:7d}  "
            f"{r['processor_s']:8.2f}s  {r['conformer_s']:8.2f}s  {r['whisper_s']:6.2f}s  {r['decoder_s']:6.2f}s  "
            f"{r['total_s']:6.2f}s  {r['peak_rss_mb']:6.0f} MB  {r['growth_rss_mb']:5.0f} MB")
    add("")
    add(format_paper(report["paper"]))
    add(f"  peak RSS of this process per section (MB): {report['meta']['section_peak_rss_mb']}")
    cuda = report.get("cuda")
    add(f"  CUDA: {'not available (floor fraction not measured)' if cuda is None else cuda}")
    return "\n".join(lines)


def format_paper(paper: dict) -> str:
    """The "real sizes on paper" section: one row per backbone family."""
    q = paper
    return "\n".join([
        f"Real sizes on paper ({q['session_seconds']:.0f} s session of {q['responses']} responses, {q['text_tokens']} "
        f"text tokens; APP Whisper-large-v3 on {q['app_windows_packed']} packed 30 s windows, "
        f"{q['tflop_app_whisper_if_per_response']:.1f} TFLOP if each response had its own "
        f"{q['app_windows_per_response']}; H100 floor at {q['h100_bf16_dense_tflops']:.0f} TFLOP/s dense bf16; "
        f"{q['train_epochs']} epochs of {q['train_hours']:.0f} h of S&I train = {q['train_sessions']:.0f} sessions "
        f"each):",
        format_family_table(list(q["families"].values())),
    ])


def run_paper(args) -> dict:
    """--paper-only: the real-size figures without building or timing anything."""
    return {"meta": {"mode": "paper-only", "torch": torch.__version__, "platform": platform.platform()},
            "paper": paper_figures(args.backbone, args.text_tokens)}


def run(args) -> dict:
    from modeling_sla import SLAForSessionScoring

    quick = args.quick
    repeats = args.repeats or (1 if quick else 3)
    scale = args.scale or (0.05 if quick else 0.25)
    session = make_session("bench", scale)
    size = proportional_tiny_size(args.decoder_hidden, lengths=session_lengths(session))
    report = {"meta": {"mode": "quick" if quick else "full", "cpu_threads": torch.get_num_threads(),
                       "torch": torch.__version__, "platform": platform.platform(), "repeats": repeats,
                       "session_scale": scale}}
    with tempfile.TemporaryDirectory(prefix="sla-bench-") as folder:
        build_checkpoint(folder, size)
        model = SLAForSessionScoring.from_pretrained(folder).eval()
        processor = load_processor(folder)
        report["long"] = measure_long(folder, QUICK_LONG_MINUTES if quick else LONG_MINUTES)
        peaks = report["meta"]["section_peak_rss_mb"] = {}
        reset_peak_rss()
        report["shares"] = measure_shares(model, processor, session, size, repeats)
        peaks["shares"] = peak_rss_mb()
        reset_peak_rss()
        report["processor"] = measure_processor(processor, session, repeats)
        peaks["processor"] = peak_rss_mb()
        reset_peak_rss()
        files = os.path.join(folder, "audio")
        os.makedirs(files)
        real = [write_session_files(make_session(f"real{i}", (0.1 if quick else 1.0) * (0.9 + 0.04 * i), seed=7 * i),
                                    files) for i in range(3 if quick else 6)]
        report["featurizing"] = measure_featurizing(processor, real, repeats, FEATURIZING_WORKERS)
        peaks["featurizing"] = peak_rss_mb()
        reset_peak_rss()
        train_rows = [make_session(f"train{i}", scale * (0.9 + 0.2 * i), seed=10 * i) for i in range(2)]
        report["training"] = measure_training(model, processor, train_rows, repeats)
        peaks["training"] = peak_rss_mb()
        reset_peak_rss()
        rng = np.random.default_rng(0)
        n_score = 4 if quick else 8
        score_rows = [make_session(f"score{i}", scale * float(rng.uniform(0.5, 1.5)), seed=100 * i)
                      for i in range(n_score)]
        report["scoring"] = measure_scoring(SLAForSessionScoring.from_pretrained(folder).eval(), processor,
                                            score_rows, repeats)
        peaks["scoring"] = peak_rss_mb()
    report["paper"] = paper_figures(args.backbone, args.text_tokens)
    report["cuda"] = measure_cuda_fraction()
    return report
