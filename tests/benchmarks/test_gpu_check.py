"""sla_phi4/benchmarks/gpu_check.py on CPU: the real configurations build to the published sizes (meta device), synthesised
sessions have the processor's token counts and tensor shapes, the attention checks, the table, and a --quick run end
to end (its JSON complete, its failures loud)."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from sla_phi4.testing import make_session


FAMILIES = {"phi4": "phi4_multimodal", "voxtral": "voxtral", "qwen2-audio": "qwen2_audio"}
PHI4_PUBLISHED_PARAMETERS = 5_574_460_224  # the model card's count: vision and speech LoRA adapters included
PUBLISHED_PARAMETERS = {"voxtral": 4.68e9, "qwen2-audio": 8.4e9}  # model cards, ForConditionalGeneration
# Durations that cross 30 s windows, one leaving a 2 ms tail past a window (no audio token there) and a clip over
# the conformer's 40 s grouping limit.
PROCESSOR_SESSIONS = [
    [("P1", 15.0), ("P1", 4.5), ("P3", 31.5), ("P4", 60.002), ("P5", 2.0)],
    [("P1", 12.25), ("P5", 30.0)],
]


def meta_model(backbone: str):
    from sla_phi4.benchmarks.gpu_check import build_model, real_sla_config

    return build_model(real_sla_config(backbone), "meta", torch.bfloat16)


def count(module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


# --------------------------------------------------------------------------------------------------- real sizes
def test_phi4_builds_to_the_published_parameter_count():
    from transformers import Phi4MultimodalModel, WhisperModel

    from sla_phi4.analysis.real_configs import load_real_config
    from sla_phi4.benchmarks.gpu_check import CHECK, parameter_summary

    model = meta_model("phi4")
    assert {parameter.device.type for parameter in model.parameters()} == {"meta"}  # built where it was asked
    summary = parameter_summary(model)
    phi4 = load_real_config("phi4_multimodal")
    with torch.device("meta"):
        full = Phi4MultimodalModel(phi4)
        whisper_encoder = WhisperModel(load_real_config("whisper_large_v3")).encoder
    hidden, inter, layers = phi4.hidden_size, phi4.intermediate_size, phi4.num_hidden_layers
    qkv_out = hidden + 2 * phi4.num_key_value_heads * hidden // phi4.num_attention_heads
    lora_per_rank = layers * ((hidden + qkv_out) + 2 * hidden + (hidden + 2 * inter) + (inter + hidden))
    vision = count(full) - summary["backbone"]  # what the adapter strips: the vision tower and its projections
    assert 0.4e9 < vision < 0.5e9
    assert summary["backbone"] + vision + (256 + 320) * lora_per_rank == PHI4_PUBLISHED_PARAMETERS
    assert summary["lora"] == CHECK.lora_rank * lora_per_rank and summary["lora_modules"] == 4 * layers
    assert summary["app_encoder"] == count(whisper_encoder)
    width, app_hidden = whisper_encoder.config.d_model, model.config.app_hidden_size
    app_classifier = width * app_hidden + app_hidden + app_hidden * 8 + 8
    head, projector = 5 * hidden + 5, 8 * hidden + hidden
    assert summary["own_modules"] == head + app_classifier + projector
    assert summary["total"] == summary["backbone"] + summary["lora"] + summary["app_encoder"] + summary["own_modules"]
    assert summary["trainable"] == summary["lora"] + head + projector
    assert summary["dtypes"] == {"backbone": ["bfloat16"], "lora": ["float32"], "app_encoder": ["bfloat16"],
                                 "head": ["float32"], "app_projector": ["float32"]}


@pytest.mark.parametrize("backbone", ["voxtral", "qwen2-audio"])
def test_other_backbones_build_to_their_published_sizes(backbone):
    from sla_phi4.analysis.real_configs import load_real_config
    from sla_phi4.benchmarks.gpu_check import parameter_summary

    summary = parameter_summary(meta_model(backbone))
    text = load_real_config(FAMILIES[backbone]).text_config
    lm_head = text.vocab_size * text.hidden_size  # untied in both; the scorer has no LM head
    assert abs((summary["backbone"] + lm_head) / PUBLISHED_PARAMETERS[backbone] - 1) < 0.01
    assert summary["lora_modules"] == 7 * text.num_hidden_layers and summary["dtypes"]["lora"] == ["float32"]


def test_dtypes_are_those_of_from_backbone(family_checkpoints, tiny_checkpoint):
    """The check builds the model as `from_backbone(dtype=bf16)` loads it, tensor by tensor: bf16 backbone and
    Whisper, float32 LoRA, head and APP classifier and projector."""
    from modeling_sla import SLAConfig, SLAForSessionScoring
    from sla_phi4.benchmarks.gpu_check import build_model

    for folder in (tiny_checkpoint, family_checkpoints("voxtral")):
        parts = folder / "parts"
        backbone_dir = next(path for path in parts.iterdir() if path.name not in ("whisper", "audio-tower"))
        config = SLAConfig.from_pretrained(folder)
        loaded = SLAForSessionScoring.from_backbone(
            backbone_dir, parts / "whisper", dtype=torch.bfloat16, prior_token_id=config.prior_token_id,
            lora_rank=config.lora_rank, lora_alpha=config.lora_alpha, attn_implementation="sdpa")
        built = build_model(config, "cpu", torch.bfloat16)
        expected = {name: tensor.dtype for name, tensor in [*loaded.named_parameters(), *loaded.named_buffers()]}
        got = {name: tensor.dtype for name, tensor in [*built.named_parameters(), *built.named_buffers()]}
        assert set(got) == set(expected)
        assert got == expected
        assert {dtype for name, dtype in got.items() if ".lora_" in name} == {torch.float32}
        assert ({name for name, p in built.named_parameters() if p.requires_grad}
                == {name for name, p in loaded.named_parameters() if p.requires_grad})


# ---------------------------------------------------------------------------------------------------- synthesis
@pytest.mark.parametrize("backbone", list(FAMILIES))
def test_real_token_ids_fit_the_real_vocabulary(backbone):
    from sla_phi4.benchmarks.gpu_check import family_token_ids, real_sla_config

    config = real_sla_config(backbone)
    ids = family_token_ids(backbone, config)
    vocab = config.audio_llm_config.get_text_config().vocab_size
    assert ids.plain_text.min() >= 0 and ids.plain_text.max() < vocab and ids.prior < vocab
    assert ids.audio not in set(ids.plain_text.tolist()) and ids.prior == config.prior_token_id


def test_bad_token_ids_are_refused(monkeypatch):
    from sla_phi4.benchmarks import gpu_check

    config = gpu_check.real_sla_config("phi4")
    families = {**gpu_check.CHECK.families, "phi4": {"prior_token_id": 200063, "pad_token_id": 199999,
                                                     "plain_text_ids": [0, 300000]}}
    with pytest.raises(ValueError, match="families.phi4 names ids outside the vocabulary of 200064"):
        gpu_check.family_token_ids("phi4", config, replace(gpu_check.CHECK, families=families))
    families["phi4"] = {"prior_token_id": 200063, "pad_token_id": 199999, "plain_text_ids": [199000, 200020]}
    with pytest.raises(ValueError, match="include the prior, audio or pad id: \\[199999, 200011\\]"):
        gpu_check.family_token_ids("phi4", config, replace(gpu_check.CHECK, families=families))


def test_real_sessions_have_the_real_size_counts():
    from sla_phi4.analysis.real_size import SETTINGS, family_row, qwen2_audio_tokens, voxtral_audio_tokens
    from sla_phi4.benchmarks.gpu_check import (
        SessionSynthesizer,
        family_token_ids,
        real_sla_config,
        scaled_session,
        session_forward_flops,
    )

    for backbone in FAMILIES:
        config = real_sla_config(backbone)
        ids = family_token_ids(backbone, config)
        session = SessionSynthesizer(config, ids).session(scaled_session(1.0))
        tokens = np.array(session.input_ids)
        assert tokens[0] == ids.prior and (tokens == ids.prior).sum() == 1
        assert len(tokens) - session.audio_tokens == SETTINGS.text_tokens
        assert (tokens == ids.audio).sum() == session.audio_tokens and len(session.app_frames) == 11
        text = tokens[(tokens != ids.audio) & (tokens != ids.prior)]
        assert np.isin(text, ids.plain_text).all()
        row = family_row(backbone)
        flops = session_forward_flops(config, session)
        assert math.isclose(flops["app_whisper"], row["tflop_app_whisper"] * 1e12)
        assert math.isclose(flops["audio_tower"], row["tflop_audio_tower"] * 1e12)
        lengths = SETTINGS.session_lengths
        assert math.isclose(flops["decoder"], row["tflop_decoder"] * 1e12)
        assert flops["total"] == pytest.approx(flops["decoder"] + flops["audio_tower"] + flops["app_whisper"])
        if backbone == "phi4":
            assert session.audio_tokens == row["audio_tokens"] == 3768 and len(session.units) == 13
        elif backbone == "qwen2-audio":
            assert session.audio_tokens == qwen2_audio_tokens(config.audio_llm_config, lengths)
        else:  # the package keeps a window's valid tokens only (Voxtral's processor would give 375 per window)
            assert session.audio_tokens == 3768 == voxtral_audio_tokens(config.audio_llm_config, lengths)
            assert len(session.units) == 15  # the two 58 s answers take two windows each


@pytest.mark.parametrize("backbone", list(FAMILIES))
def test_synthesis_matches_the_processor(backbone, tiny_checkpoint, family_checkpoints, tiny_processor):
    """Sessions of the same durations: the synthesiser's inputs have the processor's token counts and tensor shapes,
    and the model takes them."""
    from modeling_sla import SLAForSessionScoring
    from processing_sla import SLAProcessor
    from sla_phi4.benchmarks.gpu_check import SessionSynthesizer, processor_token_ids

    folder = tiny_checkpoint if backbone == "phi4" else family_checkpoints(backbone)
    processor = tiny_processor if backbone == "phi4" else SLAProcessor.from_pretrained(folder)
    sessions = [make_session(f"s{index}", parts, seed=10 * index) for index, parts in enumerate(PROCESSOR_SESSIONS)]
    expected = processor(sessions, assess_audio=False)  # model inputs only
    model = SLAForSessionScoring.from_pretrained(folder).eval()
    synthesizer = SessionSynthesizer(model.config, processor_token_ids(processor))
    synthetic = []
    for index, session in enumerate(sessions):
        prepared = processor.prepare_session(session, index)
        text_tokens = len(prepared["input_ids"]) - sum(unit.tokens for unit in prepared["units"])
        synthetic.append(synthesizer.session(PROCESSOR_SESSIONS[index], text_tokens, seed=index))
    got = synthesizer.collate(synthetic)
    assert set(got) == set(expected)
    for key in ("attention_mask", "audio_feature_lengths", "audio_embed_sizes", "app_frame_counts",
                "app_window_session"):
        assert torch.equal(got[key], expected[key]), key
    for key in ("input_ids", "audio_input_features", "app_input_features"):
        assert got[key].shape == expected[key].shape, key
    for ids in (got["input_ids"], expected["input_ids"]):
        assert ((ids == processor.prior_token_id).sum(dim=1) == 1).all()
    assert torch.equal((got["input_ids"] == processor.audio_token_id).sum(dim=1),
                       (expected["input_ids"] == processor.audio_token_id).sum(dim=1))
    with torch.no_grad():
        assert torch.isfinite(model(**got).scores).all()


# --------------------------------------------------------------------------------------------- checks and table
def test_device_peaks():
    from sla_phi4.benchmarks.gpu_check import device_peak_flops

    assert device_peak_flops("NVIDIA H200")[0] == device_peak_flops("NVIDIA H100 80GB HBM3")[0] == 989e12
    peak, reason = device_peak_flops("NVIDIA GeForce RTX 4090")
    assert peak is None and "'NVIDIA GeForce RTX 4090' is not in gpu_check.json" in reason
    assert device_peak_flops(None) == (None, "not a CUDA device: no dense bf16 peak to compare with")


def test_estimate_of_every_backbone_in_one_call_fits_the_eight_minute_budget():
    from types import SimpleNamespace

    from sla_phi4.benchmarks.gpu_check import (
        CHECK,
        SessionSynthesizer,
        call_estimate,
        estimated_seconds,
        family_token_ids,
        real_sla_config,
    )

    args = SimpleNamespace(backbone="all", attn="sdpa", dtype="bfloat16", quick=False, steps=None, repeats=None,
                           score_tolerance=None, state_tolerance=None, seed=0)
    every = call_estimate(args, {})
    assert CHECK.estimate["fixed_overhead_s"] < every <= CHECK.estimate["budget_s"], every
    parts = []
    for backbone in FAMILIES:
        config = real_sla_config(backbone)
        synthesizer = SessionSynthesizer(config, family_token_ids(backbone, config))
        one, two = (estimated_seconds(config, synthesizer, attentions, CHECK.steps, CHECK.scoring_repeats)
                    for attentions in (1, 2))
        assert CHECK.estimate["per_backbone_s"] < one < two
        assert estimated_seconds(config, synthesizer, 1, 2 * CHECK.steps, CHECK.scoring_repeats) > one
        parts.append(one)
    assert every == pytest.approx(CHECK.estimate["fixed_overhead_s"] + sum(parts))
    assert call_estimate(SimpleNamespace(**{**vars(args), "backbone": "phi4"}), {}) == pytest.approx(
        CHECK.estimate["fixed_overhead_s"] + parts[0])


def test_attention_choices_and_the_audio_tower_pin(tiny_model, monkeypatch):
    """flash_attention_2 is skipped on CPU with its reason; switched to it (transformers' availability checks
    bypassed, as flash-attn is not installed here), the decoder and APP run it and the audio tower stays on sdpa."""
    from transformers import PreTrainedModel

    from sla_phi4.benchmarks.gpu_check import attention_failures, attention_in_use, requested_attentions

    cpu = torch.device("cpu")
    assert requested_attentions("all", cpu, torch.bfloat16) == (
        ["sdpa"], {"flash_attention_2": "flash attention needs a CUDA device"})
    assert requested_attentions("sdpa,eager", cpu, torch.bfloat16) == (["sdpa", "eager"], {})
    with pytest.raises(ValueError, match="Unknown attention implementation"):
        requested_attentions("flash", cpu, torch.bfloat16)
    for check in ("_check_and_adjust_attn_implementation", "get_correct_attn_implementation"):
        monkeypatch.setattr(PreTrainedModel, check, lambda self, requested, *args, **kwargs: requested)
    try:
        tiny_model.set_attn_implementation("flash_attention_2")
        in_use = attention_in_use(tiny_model)
        assert in_use == {"decoder": ["flash_attention_2"], "audio_tower": ["sdpa"],
                          "app_encoder": ["flash_attention_2"]}
        assert attention_failures("flash_attention_2", in_use) == []
        assert attention_failures("flash_attention_2", {**in_use, "audio_tower": ["flash_attention_2"]}) == [
            "flash_attention_2: the audio tower runs ['flash_attention_2'], not sdpa"]
    finally:
        tiny_model.set_attn_implementation("sdpa")
    assert attention_in_use(tiny_model) == {"decoder": ["sdpa"], "audio_tower": ["sdpa"], "app_encoder": ["sdpa"]}


def test_invariance_is_bitwise_and_float32_agreement_catches_unmasked_padding(tiny_checkpoint, tiny_processor,
                                                                                monkeypatch):
    """Under the default settings a batched session equals itself alone to the last bit (bf16 here); the padded
    opt-in's differences are reported. With the conformer's padded keys left unmasked, clips of different lengths in
    one pass see each other's padding: the float32 agreement of padded batches against alone fails loudly."""
    import modeling_sla.speech_encoding_sla as speech_encoding
    from modeling_sla import SLAConfig
    from sla_phi4.benchmarks.gpu_check import (
        CHECK,
        SessionSynthesizer,
        build_model,
        measure_float32_agreement,
        measure_invariance,
        processor_token_ids,
        scaled_session,
    )

    config = SLAConfig.from_pretrained(tiny_checkpoint)
    synthesizer = SessionSynthesizer(config, processor_token_ids(tiny_processor))
    model = build_model(config, "cpu", torch.bfloat16)
    sessions = [synthesizer.session(scaled_session(0.1 * factor), seed=index)
                for index, factor in enumerate([0.6, 0.8, 1.0, 1.2])]
    cpu = torch.device("cpu")
    exact = measure_invariance(model, synthesizer, sessions, cpu, CHECK.tolerances)
    assert exact["passed"] and exact["bitwise"] and exact["default_max_abs_score_diff"] == 0.0
    assert exact["max_abs_score_diff"] == max(exact["score_diffs"]) and len(exact["score_diffs"]) == 4
    assert exact["padded_within_tolerance"]
    agreement = measure_float32_agreement(model, synthesizer, sessions[:2], cpu, CHECK.tolerances)
    assert agreement["passed"] and agreement["max_relative_state_diff"] < 1e-5
    dtypes = {(".lora_" in name, p.dtype) for name, p in model.named_parameters() if name.startswith("backbone.layers")}
    assert dtypes == {(False, torch.bfloat16), (True, torch.float32)}  # each cast back after the float32 phase

    def unmasked(encoder, hidden, valid, streaming=None):
        rows, frames, _ = hidden.shape
        config = encoder.config
        streaming = encoder._streaming_mask(frames, 1, config.chunk_size, config.left_chunk)
        bias = encoder.relative_attention_bias_layer(hidden)
        return (streaming.unsqueeze(1).to(bias.dtype) + bias).expand(rows, -1, -1, -1)

    monkeypatch.setattr(speech_encoding, "conformer_attention_bias", unmasked)
    leaky = measure_float32_agreement(model, synthesizer, sessions[:2], cpu, CHECK.tolerances)
    assert not leaky["passed"] and leaky["max_relative_state_diff"] > CHECK.tolerances["float32_state_relative"]
    assert leaky["bitwise"]  # the default still scores each session alone: a fault cannot cross sessions there
    with torch.no_grad():  # the largest difference over every session of the padded batch
        model.float()
        model.config.session_batching = "padded"
        batched = model(**synthesizer.collate(sessions[:2])).scores
        model.config.session_batching = "per_session"
        alone = torch.cat([model(**synthesizer.collate([session])).scores for session in sessions[:2]])
    assert leaky["padded_score_diffs"] == (alone - batched).abs().amax(dim=1).tolist()
    assert leaky["max_abs_score_diff"] == max(leaky["padded_score_diffs"])
    assert leaky["tokens"] == [len(session.input_ids) for session in sessions[:2]]


def test_batched_scoring_parts_tower_and_levers(tiny_checkpoint, tiny_processor):
    from modeling_sla import SLAConfig
    from sla_phi4.benchmarks.gpu_check import (
        CHECK,
        SessionSynthesizer,
        build_model,
        measure_audio_tower,
        measure_batched_scoring,
        measure_first_sight,
        measure_lora_levers,
        measure_parts,
        measure_tower_graphs,
        processor_token_ids,
        scaled_session,
    )

    config = SLAConfig.from_pretrained(tiny_checkpoint)
    synthesizer = SessionSynthesizer(config, processor_token_ids(tiny_processor))
    model = build_model(config, "cpu", torch.bfloat16)
    cpu = torch.device("cpu")
    sessions = [synthesizer.session(scaled_session(0.05 * factor), seed=index)
                for index, factor in enumerate([0.6, 0.9, 1.2, 0.7, 1.0])]
    batched = measure_batched_scoring(model, synthesizer, sessions, cpu, peak=1e12)
    plans = [(row["session_batching"], row["batch"], row["first_sight"]) for row in batched["rows"]]
    assert plans == [("per_session", 1, True)] + [("per_session", size, False) for size in CHECK.scoring_batch_sizes] + [
        ("padded", size, False) for size in CHECK.padded_batch_sizes]
    assert batched["rows"][0]["bitwise_equal_to_batch_1"] and batched["rows"][0]["max_abs_score_diff"] == 0.0
    assert batched["default_bitwise"] and batched["tokens"] == sorted(batched["tokens"], reverse=True)
    assert all(row["sessions_per_s"] > 0 and row["mfu"] > 0 for row in batched["rows"])
    assert model.config.session_batching == "per_session"
    parts = measure_parts(model, synthesizer, sessions[0], cpu, repeats=1, peak=None)
    assert set(parts) == {"audio_tower", "app_whisper", "decoder"}
    assert all(part["seconds_median"] > 0 and part["mfu"] is None for part in parts.values())
    first_sight = measure_first_sight(model, synthesizer, sessions[1], cpu)
    assert first_sight["tokens"] == len(sessions[1].input_ids)
    assert set(first_sight["parts"]) == {"audio_tower", "app_whisper", "decoder"}
    for figures in first_sight["parts"].values():
        assert figures["first_call_s"] > 0 and figures["second_call_s"] > 0
        assert figures["first_sight_cost_s"] == pytest.approx(figures["first_call_s"] - figures["second_call_s"])
    tower = measure_audio_tower(model, synthesizer, sessions[2], cpu, repeats=1, tolerance=1e-3)
    assert tower["passed"] and tower["units"] == len(sessions[2].units) and tower["speedup"] > 0
    graphs = measure_tower_graphs(model, synthesizer, sessions[2], sessions, cpu, repeats=1, peak=1e12)
    assert graphs["tower"]["graphs_captured"] > 0 and graphs["tower"]["graphs_first_call_s"] > 0
    # bf16 rounding of other GEMM shapes (about 1 % of the largest value here); a masking fault moves tens of per cent
    assert 0 < graphs["tower"]["max_abs_diff"] < 0.05 * graphs["tower"]["max_abs_value"]
    scoring = graphs["scoring"]
    assert scoring["sessions"] == len(sessions) and scoring["graphs_captured"] > 0 and scoring["scores_finite"]
    assert 0 < scoring["max_abs_score_diff"] < 0.05 and scoring["graphs_mfu"] > 0 and scoring["speedup"] > 0
    assert model.config.audio_tower_cuda_graphs is False and not model.audio_tower_graphs.passes  # put back
    assert next(model.backbone.embed_tokens_extend.audio_embed.parameters()).dtype == torch.bfloat16
    lora_before = {name: p.detach().clone() for name, p in model.named_parameters() if ".lora_" in name}
    base = model.backbone.layers[0].self_attn.qkv_proj.base_layer.weight.detach().clone()
    levers = measure_lora_levers(model, synthesizer, sessions[0], cpu, repeats=1, peak=None)["levers"]
    assert list(levers) == ["float32", "backbone_dtype", "merged"]
    assert levers["float32"]["max_abs_score_diff"] == 0.0
    assert 0 < levers["merged"]["relative_state_diff"] < 0.05  # bf16 rounding of a random LoRA B, not a fault
    assert all(torch.equal(p, lora_before[name]) and p.dtype == torch.float32
               for name, p in model.named_parameters() if ".lora_" in name)  # put back
    assert torch.equal(model.backbone.layers[0].self_attn.qkv_proj.base_layer.weight, base)


@pytest.fixture
def training_setup(tiny_checkpoint, tiny_processor):
    """A fresh tiny model, its session synthesizer, and two sessions of different lengths."""
    from modeling_sla import SLAConfig
    from sla_phi4.benchmarks.gpu_check import SessionSynthesizer, build_model, processor_token_ids, scaled_session

    config = SLAConfig.from_pretrained(tiny_checkpoint)
    synthesizer = SessionSynthesizer(config, processor_token_ids(tiny_processor))
    model = build_model(config, "cpu", torch.float32)
    sessions = [synthesizer.session(scaled_session(0.05 * factor), seed=index) for index, factor in enumerate([1, 2])]
    return model, synthesizer, sessions


def test_training_uses_cached_encoders_and_restores_the_model(training_setup, monkeypatch):
    from sla_phi4.benchmarks.gpu_check import measure_training

    model, synthesizer, sessions = training_setup
    before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    calls = {"encode_speech": 0, "checkpointing": []}
    encode_speech, forward = model.encode_speech, model.forward

    def counted_encode(*args, **kwargs):
        calls["encode_speech"] += 1
        return encode_speech(*args, **kwargs)

    def observed_forward(*args, **kwargs):
        calls["checkpointing"].append(model.backbone.layers[0].gradient_checkpointing and model.training)
        assert "audio_input_features" not in kwargs and kwargs["audio_embeds"] is not None
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "encode_speech", counted_encode)
    monkeypatch.setattr(model, "forward", observed_forward)
    result = measure_training(model, synthesizer, sessions, torch.device("cpu"), steps=3, learning_rate=1e-2,
                              peak=None)
    assert calls == {"encode_speech": 2, "checkpointing": [True, True, True]}  # once per session, then cached
    assert result["losses_finite"] and result["losses"][2] < result["losses"][0]  # the steps did train
    assert result["sessions_per_s"] == pytest.approx(2 / result["step_s_median"])
    assert not model.training and not model.backbone.layers[0].gradient_checkpointing
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters() if p.requires_grad)


def test_per_session_training_runs_one_pass_a_session_and_restores_the_setting(training_setup, monkeypatch):
    from sla_phi4.benchmarks.gpu_check import measure_training

    model, synthesizer, sessions = training_setup
    rows = []
    forward_batch = model._forward_batch
    monkeypatch.setattr(model, "_forward_batch", lambda **kwargs: rows.append(kwargs["input_ids"].shape[0])
                        or forward_batch(**kwargs))
    result = measure_training(model, synthesizer, sessions, torch.device("cpu"), steps=2, learning_rate=1e-2,
                              peak=None, batching="per_session")
    assert rows == [1, 1, 1, 1] and result["batching"] == "per_session" and result["losses_finite"]
    assert model.config.training_batching == "padded"


def test_training_without_checkpointing_keeps_activations_and_trains_the_same(training_setup, monkeypatch):
    from sla_phi4.benchmarks.gpu_check import measure_training

    model, synthesizer, sessions = training_setup
    checkpointed = measure_training(model, synthesizer, sessions, torch.device("cpu"), steps=3, learning_rate=1e-2,
                                    peak=None)
    seen, forward = [], model.forward

    def observed_forward(*args, **kwargs):
        seen.append(model.backbone.layers[0].gradient_checkpointing)
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", observed_forward)
    kept = measure_training(model, synthesizer, sessions, torch.device("cpu"), steps=3, learning_rate=1e-2, peak=None,
                            checkpointing=False)
    assert seen == [False, False, False] and not kept["checkpointing"] and checkpointed["checkpointing"]
    # recomputing activations (with the same LoRA dropout masks) changes nothing but time: the same losses, step by step
    assert kept["losses"] == pytest.approx(checkpointed["losses"], rel=1e-5)
    assert kept["losses"][2] < kept["losses"][0] and not model.backbone.layers[0].gradient_checkpointing


def fabricated_report(mfu=0.412, failures=()) -> dict:
    training = {"steps": 3, "autocast": False, "batching": "padded", "checkpointing": True, "batch": 4, "sessions_per_s": 1.25, "mfu": None,
                "peak_gpu_mb": 30 * 1024, "peak_gpu_reserved_mb": 32 * 1024, "losses": [1.5, 0.75],
                "losses_finite": True}
    run = {
        "attn_implementation": "sdpa",
        "in_use": {"decoder": ["sdpa"], "audio_tower": ["sdpa"], "app_encoder": ["sdpa"]},
        "errors": [],
        "scoring": {"sessions_per_s": 2.5, "mfu": mfu, "peak_gpu_mb": 12 * 1024, "peak_gpu_reserved_mb": 13 * 1024,
                    "scores_finite": True},
        "parts": {"audio_tower": {"seconds_median": 0.04, "mfu": 0.11}, "app_whisper": {"seconds_median": 0.08,
                  "mfu": 0.316}, "decoder": {"seconds_median": 0.1, "mfu": 0.3}},
        "first_sight": {"tokens": 4000, "seconds_of_audio": 295.0, "parts": {
            "audio_tower": {"first_call_s": 0.25, "second_call_s": 0.1, "first_sight_cost_s": 0.15}}},
        "audio_tower": {"units": 13, "together_s": 0.04, "one_by_one_s": 0.16, "speedup": 4.0,
                        "relative_diff_float32": 3.1e-7, "tolerance": 1e-3, "passed": True},
        "audio_tower_graphs": {
            "tower": {"eager_s": 0.04, "graphs_first_call_s": 0.5, "graphs_s": 0.01, "speedup": 4.0,
                      "graphs_captured": 2, "max_abs_diff": 0.0039, "max_abs_value": 2.5},
            "scoring": {"sessions": 16, "graphs_captured": 5, "graphs_sessions_per_s": 4.4, "graphs_mfu": 0.24,
                        "eager_sessions_per_s": 3.2, "eager_mfu": 0.18, "speedup": 1.375, "max_abs_score_diff": 0.011,
                        "max_relative_state_diff": 0.004, "scores_finite": True, "peak_gpu_mb": 20 * 1024,
                        "peak_gpu_reserved_mb": 22 * 1024}},
        "lora_levers": {"lora_b_std": 0.02, "levers": {
            "float32": {"seconds_median": 0.118, "mfu": 0.25, "max_abs_score_diff": 0.0, "relative_state_diff": 0.0},
            "merged": {"seconds_median": 0.072, "mfu": 0.41, "max_abs_score_diff": 0.05,
                       "relative_state_diff": 0.011}}},
        "batched_scoring": {"sessions": 16, "peak_gpu_mb": 20 * 1024, "peak_gpu_reserved_mb": 21 * 1024,
                            "default_bitwise": True, "rows": [
                                {"session_batching": "per_session", "batch": 1, "first_sight": True,
                                 "sessions_per_s": 1.85, "mfu": 0.1, "bitwise_equal_to_batch_1": True,
                                 "max_abs_score_diff": 0.0, "max_relative_state_diff": 0.0},
                                {"session_batching": "per_session", "batch": 8, "sessions_per_s": 6.5, "mfu": 0.35,
                                 "bitwise_equal_to_batch_1": True, "max_abs_score_diff": 0.0,
                                 "max_relative_state_diff": 0.0},
                                {"session_batching": "padded", "batch": 8, "sessions_per_s": 2.9, "mfu": 0.16,
                                 "bitwise_equal_to_batch_1": False, "max_abs_score_diff": 0.042,
                                 "max_relative_state_diff": 0.019}]},
        "batch_invariance": {"sessions": 4, "bitwise": True, "max_abs_score_diff": 0.0123,
                             "max_relative_state_diff": 0.0081, "default_max_abs_score_diff": 0.0,
                             "score_tolerance": 0.05, "state_tolerance": 0.05, "scores_finite": True, "passed": True,
                             "peak_gpu_mb": 15 * 1024, "peak_gpu_reserved_mb": 16 * 1024},
        "float32_agreement": {"sessions": 2, "bitwise": True, "max_abs_score_diff": 1.3e-5,
                              "max_relative_state_diff": 5.8e-6, "score_tolerance": 1e-3, "state_tolerance": 1e-4,
                              "passed": True},
        "training": {"4": training, "4_per_session": {**training, "batching": "per_session", "sessions_per_s": 1.5},
                     "1_no_checkpointing": {**training, "checkpointing": False, "batch": 1, "sessions_per_s": 2.0},
                     "4_autocast": {**training, "autocast": True, "sessions_per_s": 2.5}},
        "projection": {"train_sessions": 2918.0, "epochs": 3, "minutes": 120.2, "fastest": "1_no_checkpointing",
                       "minutes_with_autocast": 60.8, "fastest_with_autocast": "4_autocast",
                       "encoder_cache_minutes": 5.8, "encoder_cache_s_per_session": 0.12},
    }
    return {
        "meta": {"backbone": "phi4", "configuration": "real configuration", "dtype": "bfloat16", "device": "cuda",
                 "device_name": "NVIDIA H200", "mode": "full"},
        "peak_bf16_dense_flops": 989e12, "peak_source": "H200 SXM (gpu_check.json)",
        "model": {"build_s": 12.34, "gpu_memory_after_build_mb": 10 * 1024,
                  "parameters": {"total": 4_950_259_597, "trainable": 23_111_685, "lora_modules": 128,
                                 "weights_mb": 9_500.0, "dtypes": {"lora": ["float32"]}},
                  "host_memory": {"peak_rss_during_build_mb": 3_000.0, "peak_growth_mb": 512.0,
                                  "peak_growth_per_weights": 512 / 9_500}},
        "session": {"responses": 13, "seconds": 301.0, "tokens": 4068, "audio_tokens": 3768, "text_tokens": 300,
                    "app_windows": 11, "tflop_train_step": 88.4,
                    "tflop_forward": {"total": 58.9, "decoder": 29.5, "audio_tower": 4.43, "app_whisper": 25.0}},
        "runs": {"sdpa": run, "flash_attention_2": {"error": "RuntimeError: boom", "failures": ["x"]}},
        "skipped": {"eager": "not asked for"},
        "failures": list(failures),
    }


def test_table_renders_from_a_result_dict():
    from sla_phi4.benchmarks.gpu_check import format_combined, format_report

    table = format_report(fabricated_report())
    assert table.startswith("## sla-phi4 GPU check: phi4, real configuration, bfloat16, NVIDIA H200 (full run)")
    assert "- Model: 4,950,259,597 parameters (23,111,685 trainable; LoRA on 128 modules in float32), built in " \
           "12.3 s; weights 9.28 GB." in table
    assert "peak RSS 2.93 GB, 512.0 MB above the RSS before building (0.05 x the weights); GPU memory after " \
           "building 10.00 GB" in table
    assert "4,068 decoder tokens (3,768 audio + 300 text), 11 APP windows; 58.9 TFLOP forward" in table
    assert "MFU against 989 TFLOP/s dense bf16, H200 SXM (gpu_check.json)." in table
    label = "| sdpa (sdpa / sdpa / sdpa) |"
    expected = [
        "scoring | 1 | 2.5 | 41.2% | 12.0 / 13.0 | scores finite: True |",
        "part: app whisper | 1 | 12.5 | 31.6% | - | 0.08 s per session |",
        "audio tower, 13 units in one call | 1 | 25 | - | - | 4.00x unit by unit; passed: float32 difference 3.1e-07 "
        "of the largest value (tolerance 0.001) |",
        "decoder from cache, LoRA merged | 1 | 13.9 | 41.0% | - | scores move 0.05, state 0.011 (LoRA B std 0.02) |",
        "first sight: audio tower | 1 | 4 | - | - | first call 0.25 s, then 0.1 s (a session of new lengths) |",
        "scoring 16 sessions, per session | 1 | 1.85 | 10.0% | 20.0 / 21.0 | first pass over these sessions' shapes "
        "(new sessions); the reference of the rows below |",
        "scoring 16 sessions, per session | 8 | 6.5 | 35.0% | 20.0 / 21.0 | bitwise equal to batch 1: True |",
        "scoring 16 sessions, padded | 8 | 2.9 | 16.0% | 20.0 / 21.0 | opt-in; against batch 1: scores 0.042, state "
        "0.019 |",
        "audio tower as CUDA graphs (opt-in) | 1 | 100 | - | - | 4.00x the eager tower (0.04 s); first call 0.5 s (2 "
        "graphs captured); outputs move 0.0039 (values up to 2.5) |",
        "scoring 16 sessions, audio tower as CUDA graphs (opt-in) | 1 | 4.4 | 24.0% | 20.0 / 22.0 | 1.38x eager (3.2 "
        "sessions/s, warm) from an empty store (5 graphs captured); scores move 0.011, state 0.004 |",
        "batch invariance | 4 | - | - | 15.0 / 16.0 | passed: bitwise True; padded (opt-in): max score diff 0.012, "
        "relative state diff 0.0081 |",
        "float32 agreement | 2 | - | - | - | passed: padded against alone, max score diff 1.3e-05 (tolerance 0.001), "
        "relative state diff 5.8e-06 (tolerance 0.0001); bitwise True |",
        "training (3 steps) | 4 | 1.25 | n/a | 30.0 / 32.0 | loss 1.5 -> 0.75, finite: True |",
        "training (3 steps, per session) | 4 | 1.5 | n/a | 30.0 / 32.0 | loss 1.5 -> 0.75, finite: True |",
        "training (3 steps, no checkpointing) | 1 | 2 | n/a | 30.0 / 32.0 | loss 1.5 -> 0.75, finite: True |",
        "training (3 steps, autocast) | 4 | 2.5 | n/a | 30.0 / 32.0 | loss 1.5 -> 0.75, finite: True |",
    ]
    for row in expected:
        assert f"{label} {row}" in table, row
    assert "| flash_attention_2 | - | - | - | - | - | FAILED: RuntimeError: boom |" in table
    assert "| eager | skipped | - | - | - | - | not asked for |" in table
    assert ("sdpa: 3 epochs of S&I train (2,918 sessions) projected at 120 min (training 1_no_checkpointing; 61 min "
            "with autocast), encoder cache included (5.8 min).") in table
    assert table.endswith("All checks passed.")
    failed = format_report(fabricated_report(failures=["sdpa: batch invariance failed"]))
    assert failed.endswith("FAILED:\n- sdpa: batch invariance failed")
    broken = fabricated_report()
    broken["runs"]["sdpa"]["lora_levers"] = {"error": "OutOfMemoryError: CUDA out of memory"}
    assert f"{label} LoRA levers | - | - | - | - | FAILED: OutOfMemoryError: CUDA out of memory |" in format_report(
        broken)
    combined = format_combined({"backbones": {"phi4": fabricated_report(), "voxtral": {"error": "ValueError: x"}},
                                "failures": ["voxtral: raised ValueError: x"]})
    assert "## voxtral: FAILED: ValueError: x" in combined
    assert combined.endswith("FAILED (all backbones):\n- voxtral: raised ValueError: x")


def test_failures_name_what_broke():
    from sla_phi4.benchmarks.gpu_check import phase_failures

    result = fabricated_report()["runs"]["sdpa"]
    assert phase_failures("sdpa", result) == []
    result["errors"] = ["sdpa: lora_levers raised OutOfMemoryError: CUDA out of memory"]
    result["scoring"]["scores_finite"] = False
    result["batch_invariance"].update(passed=False, bitwise=False, default_max_abs_score_diff=0.0039)
    result["batched_scoring"]["default_bitwise"] = False
    result["float32_agreement"].update(passed=False, max_abs_score_diff=0.31)
    result["audio_tower"].update(passed=False, relative_diff_float32=0.2)
    result["training"]["4"].update(losses=[1.0, float("nan")], losses_finite=False)
    assert phase_failures("sdpa", result) == [
        "sdpa: lora_levers raised OutOfMemoryError: CUDA out of memory",
        "sdpa: scoring gave non-finite scores",
        "sdpa: batch invariance failed: under the default settings a session batched is not bitwise equal to it "
        "alone (scores differ by up to 0.0039), or scores are not finite (True)",
        "sdpa: batched scoring: a batch size gave scores not bitwise equal to batch 1",
        "sdpa: float32 agreement failed: padded batch against alone, scores differ by up to 0.31 (tolerance 0.001), "
        "the head's state by 5.8e-06 relative (tolerance 0.0001), default bitwise: True",
        "sdpa: the audio tower's units encoded together differ from each alone by 0.2 of the largest value in "
        "float32 (tolerance 0.001)",
        "sdpa: training at batch 4 gave a non-finite loss: [1.0, nan]",
    ]


def test_projection_of_three_epochs():
    from sla_phi4.analysis.real_size import SETTINGS
    from sla_phi4.benchmarks.gpu_check import projected_training

    result = fabricated_report()["runs"]["sdpa"]
    projected = projected_training(result)
    sessions = SETTINGS.train_hours * 3600 / sum(SETTINGS.session_lengths)
    assert projected["train_sessions"] == pytest.approx(sessions) and round(sessions) == 2918
    assert projected["encoder_cache_s_per_session"] == pytest.approx(0.12)
    # the best rate without autocast: batch 1 without checkpointing (2.0 sessions/s, above per session's 1.5 and the
    # padded batch's 1.25)
    assert projected["minutes"] == pytest.approx((3 * sessions / 2.0 + sessions * 0.12) / 60)
    assert projected["minutes_with_autocast"] == pytest.approx((3 * sessions / 2.5 + sessions * 0.12) / 60)
    assert (projected["fastest"], projected["fastest_with_autocast"]) == ("1_no_checkpointing", "4_autocast")


def test_reports_hold_no_nan(tmp_path):
    from sla_phi4.benchmarks.gpu_check import save_report

    path = tmp_path / "report.json"
    save_report({"losses": [1.0, float("nan")], "nested": {"inf": float("inf")}, "ok": 2}, str(path))
    assert json.loads(path.read_text()) == {"losses": [1.0, None], "nested": {"inf": None}, "ok": 2}
    assert not (tmp_path / "report.json.partial").exists()


# -------------------------------------------------------------------------------------------------- end to end
def test_without_cuda_a_full_run_exits_with_a_clear_message(capsys):
    from sla_phi4.cli.gpu_check import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--backbone", "voxtral"])
    assert exit_info.value.code == 2
    assert "needs a CUDA device and none was found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--quick", "--backbone", "phi4,whisper"])
    assert exit_info.value.code == 2
    assert "Unknown backbone(s) ['whisper']" in capsys.readouterr().err


REPORT_KEYS = {
    "meta": {"backbone", "backbone_model_type", "configuration", "mode", "device", "device_name", "dtype", "steps",
             "scoring_repeats", "session_scale", "seed", "session_batching", "torch", "transformers", "platform",
             "estimated_s", "wall_s"},
    "model": {"build_s", "parameters", "host_memory", "gpu_memory_after_build_mb"},
    "session": {"responses", "seconds", "tokens", "audio_tokens", "text_tokens", "audio_units", "app_windows",
                "tflop_forward", "tflop_train_step", "invariance_scales", "first_sight_scale", "train_batch_scales",
                "scoring_session_scales"},
}
RUN_KEYS = {
    "scoring": {"repeats", "seconds_median", "sessions_per_s", "mfu", "peak_gpu_mb", "peak_gpu_reserved_mb",
                "scores_finite"},
    "parts": {"audio_tower", "app_whisper", "decoder"},
    "first_sight": {"tokens", "seconds_of_audio", "parts"},
    "audio_tower": {"units", "together_s", "one_by_one_s", "speedup", "max_abs_diff_model_dtype",
                    "max_abs_diff_float32", "max_abs_value_float32", "relative_diff_float32", "tolerance", "passed"},
    "audio_tower_graphs": {"tower", "scoring"},
    "lora_levers": {"lora_b_std", "levers"},
    "batched_scoring": {"sessions", "tokens", "seconds_of_audio", "rows", "default_bitwise", "peak_gpu_mb",
                        "peak_gpu_reserved_mb"},
    "batch_invariance": {"sessions", "tokens", "bitwise", "default_max_abs_score_diff", "score_diffs",
                         "relative_state_diffs", "max_abs_score_diff", "max_relative_state_diff", "score_tolerance",
                         "state_tolerance", "padded_within_tolerance", "scores_finite", "peak_gpu_mb",
                         "peak_gpu_reserved_mb", "passed"},
    "float32_agreement": {"sessions", "tokens", "bitwise", "padded_score_diffs", "padded_relative_state_diffs",
                          "max_abs_score_diff", "max_relative_state_diff", "score_tolerance", "state_tolerance",
                          "passed"},
    "training": {"batch", "steps", "autocast", "batching", "checkpointing", "tokens", "cache_s", "step_s_median", "step_s_first",
                 "sessions_per_s", "mfu", "peak_gpu_mb", "peak_gpu_reserved_mb", "losses", "losses_finite"},
    "projection": {"train_sessions", "epochs", "encoder_cache_s_per_session", "encoder_cache_minutes", "minutes",
                   "fastest", "minutes_with_autocast", "fastest_with_autocast"},
}


@pytest.mark.slow
def test_quick_run_writes_every_field(tmp_path, capsys):
    from sla_phi4.cli.gpu_check import main

    output = tmp_path / "gpu_check.json"
    report = main(["--quick", "--attn", "sdpa,eager,flash_attention_2", "--output", str(output)])
    table = capsys.readouterr().out
    saved = json.loads(output.read_text())
    assert saved == json.loads(json.dumps(report))
    assert set(saved) == {"meta", "peak_bf16_dense_flops", "peak_source", "model", "session", "runs", "skipped",
                          "failures", "commands"}
    for section, keys in REPORT_KEYS.items():
        assert set(saved[section]) == keys, section
    assert saved["failures"] == [] and saved["peak_bf16_dense_flops"] is None
    assert saved["skipped"] == {"flash_attention_2": "flash attention needs a CUDA device"}
    assert saved["model"]["parameters"]["dtypes"]["lora"] == ["float32"]
    assert saved["model"]["host_memory"]["peak_rss_during_build_mb"] > 0
    assert saved["session"]["responses"] == 13 and saved["session"]["tflop_forward"]["total"] > 0
    assert list(saved["runs"]) == ["sdpa", "eager"]
    for attention, result in saved["runs"].items():
        assert result["in_use"] == {"decoder": [attention], "audio_tower": [attention], "app_encoder": [attention]}
        assert result["errors"] == [] and result["failures"] == []
        for phase, keys in RUN_KEYS.items():
            entries = result[phase].values() if phase == "training" else [result[phase]]
            for entry in entries:
                assert set(entry) == keys, (attention, phase)
        assert list(result["training"]) == ["1", "4", "8", "4_per_session", "1_no_checkpointing", "4_autocast"]
        assert [training["batch"] for training in result["training"].values()] == [1, 4, 8, 4, 1, 4]
        assert [training["batching"] for training in result["training"].values()] == [
            "padded", "padded", "padded", "per_session", "padded", "padded"]
        assert [training["checkpointing"] for training in result["training"].values()] == [
            True, True, True, True, False, True]
        assert all(len(training["losses"]) == 2 and training["losses_finite"]
                   for training in result["training"].values())
        assert result["batch_invariance"]["passed"] and result["batch_invariance"]["bitwise"]
        assert result["batched_scoring"]["default_bitwise"] and result["scoring"]["sessions_per_s"] > 0
        assert result["scoring"]["mfu"] is None and result["scoring"]["peak_gpu_mb"] is None
        assert result["projection"]["minutes"] > 0
    assert "| sdpa (sdpa / sdpa / sdpa) | scoring | 1 |" in table and "All checks passed." in table
    commands = saved["commands"]
    assert commands["session_scale"] == 0.1 and commands["scoring_loop"]["sessions"] == 8
    assert commands["scoring_loop"]["workers"] == 2 and commands["scoring_loop"]["scores_bitwise_equal"]
    assert commands["scoring_loop"]["workers_sessions_per_s"] > 0 and commands["scoring_loop"]["model_device"] == "cpu"
    assert {key: commands["score_command"][key] for key in ("sessions", "device", "dtype", "batch_size",
                                                           "num_workers")} == {
        "sessions": 8, "device": "cpu", "dtype": "float32", "batch_size": 1, "num_workers": 0}
    assert commands["training_setup"]["head_statistics_device"] == "cpu"
    assert commands["training_setup"]["head_statistics_finite"]
    assert "`sla score` scored 8 sessions on cpu in float32, batch 1, 0 featurizing workers" in table


def test_commands_fail_off_the_checks_device():
    import torch

    from sla_phi4.benchmarks.command_paths import command_failures

    commands = {"scoring_loop": {"model_device": "cuda", "scores_bitwise_equal": True, "scores_finite": True},
                "score_command": {"device": "cpu"},
                "training_setup": {"model_device": "cuda", "head_statistics_device": "cpu",
                                   "head_statistics_finite": True}}
    assert command_failures(commands, torch.device("cuda")) == [
        "commands: sla score ran on cpu, not cuda", "commands: sla train's head fit ran on cpu, not cuda"]
    commands["scoring_loop"]["scores_bitwise_equal"] = False
    assert "commands: scores with featurizing workers differ from those without" in command_failures(
        commands, torch.device("cuda"))


@pytest.mark.slow
def test_every_backbone_in_one_quick_call(tmp_path, capsys):
    from sla_phi4.cli.gpu_check import main

    output = tmp_path / "gpu_check.json"
    report = main(["--quick", "--backbone", "all", "--attn", "sdpa", "--steps", "1", "--output", str(output)])
    saved = json.loads(output.read_text())
    assert saved == json.loads(json.dumps(report))
    assert list(saved["backbones"]) == ["phi4", "voxtral", "qwen2-audio"] and saved["failures"] == []
    for name, single in saved["backbones"].items():
        assert single["meta"]["backbone"] == name and list(single["runs"]) == ["sdpa"]
        assert ("commands" in single) == (name == "phi4")  # once a call
        assert single["runs"]["sdpa"]["batched_scoring"]["default_bitwise"]
        assert single["runs"]["sdpa"]["float32_agreement"]["passed"]
    table = capsys.readouterr().out
    assert table.count("## sla-phi4 GPU check:") == 3 and "All backbones passed." in table


@pytest.mark.slow
def test_quick_run_fails_loudly_beyond_the_tolerance(tmp_path, capsys, family_checkpoints):
    from sla_phi4.cli.gpu_check import main

    output = tmp_path / "gpu_check.json"
    folder = family_checkpoints("qwen2-audio")
    with pytest.raises(SystemExit) as exit_info:
        main(["--quick", "--backbone", "qwen2-audio", "--config-from", str(folder), "--attn", "sdpa",
              "--state-tolerance", "0", "--score-tolerance", "0", "--output", str(output)])
    assert exit_info.value.code == 1
    saved = json.loads(output.read_text())
    assert saved["meta"]["configuration"] == f"configuration of {folder}"
    assert len(saved["failures"]) == 1 and saved["failures"][0].startswith("sdpa: float32 agreement failed")
    assert "FAILED:\n- sdpa: float32 agreement failed" in capsys.readouterr().out
