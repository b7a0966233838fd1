"""SLAForSessionScoring: building, freezing, LoRA, batching, precomputed inputs, training signal."""

import json

import numpy as np
import pytest
import torch
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file
from transformers import Phi4MultimodalModel

from modeling_sla import SLAConfig, SLAForSessionScoring
from modeling_sla.lora_sla import merge_speech_lora
from modeling_sla.speech_encoding_sla import encode_clip_natively, encode_speech_clips
from sla_phi4.testing import make_session, noise_clip


TRAINABLE = ("lora_A", "lora_B", "head.linear", "app.projector")


def trainable_names(model):
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]


def assert_only_sla_parts_trainable(model):
    names = trainable_names(model)
    assert names, "nothing is trainable"
    assert all(any(part in name for part in TRAINABLE) for name in names), names
    assert any("lora_A" in name for name in names) and any("head.linear" in name for name in names)
    assert any("app.projector" in name for name in names)
    frozen = [name for name, parameter in model.named_parameters() if not parameter.requires_grad]
    assert any("audio_embed.encoder" in name for name in frozen) and any("app.encoder" in name for name in frozen)


def test_only_lora_head_and_projector_train_after_loading(tiny_checkpoint):
    model = SLAForSessionScoring.from_pretrained(tiny_checkpoint)
    assert_only_sla_parts_trainable(model)
    assert model.num_trainable_parameters() == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < model.num_trainable_parameters() < sum(p.numel() for p in model.parameters()) / 10


def test_from_backbone_freezes_and_starts_lora_as_identity(tiny_checkpoint):
    parts = tiny_checkpoint / "parts"
    model = SLAForSessionScoring.from_backbone(
        parts / "phi4-multimodal", parts / "whisper", prior_token_id=512, dtype=torch.float32, lora_rank=4
    )
    assert_only_sla_parts_trainable(model)
    lora_layers = [module for module in model.backbone.modules() if isinstance(module, LoraLayer)]
    # 2 layers x (qkv_proj, o_proj, gate_up_proj, down_proj); none in the audio conformer
    assert len(lora_layers) == 2 * 4 == model.num_lora_modules
    assert all(not name.startswith("embed_tokens_extend") for name, m in model.backbone.named_modules()
               if isinstance(m, LoraLayer))
    assert all(float(layer.lora_B["default"].weight.detach().abs().max()) == 0.0 for layer in lora_layers)


def test_lora_is_identity_at_start(tiny_model, tiny_processor):
    inputs = tiny_processor(make_session("s", [("P1", 1.5), ("P3", 2.0)]))
    with torch.no_grad():
        with_lora = tiny_model(**inputs).scores
        for module in tiny_model.backbone.modules():
            if isinstance(module, LoraLayer):
                module.enable_adapters(False)
        without_lora = tiny_model(**inputs).scores
        for module in tiny_model.backbone.modules():
            if isinstance(module, LoraLayer):
                module.enable_adapters(True)
    torch.testing.assert_close(with_lora, without_lora, rtol=0, atol=1e-6)


def test_speech_lora_is_merged_into_frozen_weights(tiny_checkpoint):
    backbone_dir = tiny_checkpoint / "parts" / "phi4-multimodal"
    plain = Phi4MultimodalModel.from_pretrained(backbone_dir)
    adapter = load_file(backbone_dir / "speech-lora" / "adapter_model.safetensors")
    scaling = json.loads((backbone_dir / "speech-lora" / "adapter_config.json").read_text())
    scaling = scaling["lora_alpha"] / scaling["r"]
    model = SLAForSessionScoring.from_backbone(backbone_dir, use_app=False, prior_token_id=512, dtype=torch.float32)
    key = "model.layers.1.mlp.down_proj"
    expected = plain.layers[1].mlp.down_proj.weight + scaling * adapter[f"{key}.lora_B.weight"] @ adapter[
        f"{key}.lora_A.weight"]
    torch.testing.assert_close(model.backbone.layers[1].mlp.down_proj.base_layer.weight, expected)
    assert not torch.allclose(expected, plain.layers[1].mlp.down_proj.weight)


def test_speech_lora_merge_fails_loudly(tmp_path, tiny_checkpoint):
    source = tiny_checkpoint / "parts" / "phi4-multimodal" / "speech-lora"
    tensors = load_file(source / "adapter_model.safetensors")
    config = json.loads((source / "adapter_config.json").read_text())
    backbone = Phi4MultimodalModel.from_pretrained(tiny_checkpoint / "parts" / "phi4-multimodal")
    from safetensors.torch import save_file

    missing_target = {k: v for k, v in tensors.items() if "layers.0.self_attn.o_proj" not in k}
    (tmp_path / "adapter_config.json").write_text(json.dumps(config))
    save_file(missing_target, tmp_path / "adapter_model.safetensors")
    with pytest.raises(ValueError, match="unmerged"):
        merge_speech_lora(backbone, str(tmp_path))
    half_pair = {k: v for k, v in tensors.items() if k != "model.layers.0.self_attn.o_proj.lora_B.weight"}
    save_file(half_pair, tmp_path / "adapter_model.safetensors")
    with pytest.raises(ValueError, match="only"):
        merge_speech_lora(backbone, str(tmp_path))
    assert merge_speech_lora(backbone, str(source)) == 2 * 4


def test_padded_batch_gives_the_same_scores_as_alone(tiny_model, tiny_processor):
    target = make_session("target", [("P1", 1.3), ("P1", 2.1), ("P3", 3.2), ("P5", 1.7)], seed=1)
    longer = make_session("longer", [("P1", 2.9), ("P3", 6.5), ("P4", 5.8), ("P5", 2.4)], seed=7)
    shorter = make_session("shorter", [("P4", 0.9)], seed=11)
    with torch.no_grad():
        alone = tiny_model(**tiny_processor(target)).scores[0]
        batched = tiny_model(**tiny_processor([longer, target, shorter])).scores[1]
    difference = float((alone - batched).abs().max())
    print(f"largest alone-vs-batch score difference: {difference:.2e}")
    assert difference < 1e-3


def test_naive_padded_conformer_batch_differs_but_grouped_encoding_is_exact(tiny_model, tiny_processor):
    """The trap this package works around: the conformer attends padded frames."""
    audio_embed = tiny_model.backbone.embed_tokens_extend.audio_embed
    short, long = noise_clip(1.0, 3), noise_clip(3.0, 4)
    (short_features, short_size), (long_features, long_size) = [
        (unit.features, unit.tokens) for clip in (short, long) for unit in tiny_processor.audio_units(clip)]
    padded = torch.zeros(2, long_features.shape[0], long_features.shape[1])
    padded[0, : short_features.shape[0]] = torch.from_numpy(short_features)
    padded[1] = torch.from_numpy(long_features)
    lengths = torch.tensor([short_features.shape[0], long_features.shape[0]])
    sizes = torch.tensor([short_size, long_size])
    with torch.no_grad():
        exact = encode_speech_clips(audio_embed, padded, lengths, sizes)[:short_size]
        alone = encode_speech_clips(audio_embed, padded[:1, : lengths[0]], lengths[:1], sizes[:1])
        mask = torch.arange(padded.shape[1])[None] < lengths[:, None]
        naive = audio_embed.encoder(padded, mask)
        naive = audio_embed.down_proj_for_speech(torch.nn.functional.gelu(audio_embed.up_proj_for_speech(naive)))
    torch.testing.assert_close(exact, alone, rtol=0, atol=1e-6)
    assert float((naive[0, :short_size] - alone).abs().max()) > 1e-3


def test_partial_sessions_are_scored(tiny_model, tiny_processor):
    sessions = [make_session("no-p3", [("P1", 1.0), ("P4", 1.5), ("P5", 1.0)]), make_session("p1", [("P1", 1.2)])]
    with torch.no_grad():
        scores = tiny_model(**tiny_processor(sessions)).scores
    assert scores.shape == (2, 5) and torch.isfinite(scores).all()


def test_precomputed_audio_embeddings_and_app_inputs_match_the_full_path(tiny_model, tiny_processor):
    batch = tiny_processor([make_session("a", [("P1", 1.0), ("P3", 2.0)]), make_session("b", [("P5", 1.5)], 5)])
    with torch.no_grad():
        full = tiny_model(**batch)
        audio_embeds = tiny_model.encode_speech(
            batch["audio_input_features"], batch["audio_feature_lengths"], batch["audio_embed_sizes"]
        )
        pooled = tiny_model.pool_app_features(
            batch["app_input_features"], batch["app_frame_counts"], batch["app_window_session"], 2
        )
        text = {key: batch[key] for key in ("input_ids", "attention_mask")}
        from_pooled = tiny_model(**text, audio_embeds=audio_embeds, app_pooled=pooled)
        from_probs = tiny_model(**text, audio_embeds=audio_embeds, app_probs=full.app_probs)
    torch.testing.assert_close(from_pooled.scores, full.scores)
    torch.testing.assert_close(from_probs.scores, full.scores)
    assert full.app_probs.shape == (2, 8)
    torch.testing.assert_close(full.app_probs.sum(-1), torch.ones(2))


def test_app_changes_the_prior_token_and_the_scores(tiny_model, tiny_processor):
    batch = tiny_processor(make_session("a", [("P1", 1.0)]))
    text = {key: batch[key] for key in ("input_ids", "attention_mask", "audio_input_features",
                                        "audio_feature_lengths", "audio_embed_sizes")}
    low, high = torch.zeros(1, 8), torch.zeros(1, 8)
    low[0, 0], high[0, 7] = 1.0, 1.0
    with torch.no_grad():
        tiny_model.app.projector.weight.mul_(50)
        try:
            difference = (tiny_model(**text, app_probs=low).scores - tiny_model(**text, app_probs=high).scores)
        finally:
            tiny_model.app.projector.weight.div_(50)
    assert float(difference.abs().max()) > 1e-4


def test_masked_loss_uses_only_present_targets(tiny_model, tiny_processor):
    batch = tiny_processor([make_session("a", [("P1", 1.0)]), make_session("b", [("P3", 1.0)], 3)],
                           scores=[{"P1": 4.0}, {"P3": 3.0, "overall": None}])
    assert batch["labels_mask"].tolist() == [[True, False, False, False, False], [False, True, False, False, False]]
    with torch.no_grad():
        output = tiny_model(**batch)
    expected = ((output.scores[0, 0] - 4.0) ** 2 + (output.scores[1, 1] - 3.0) ** 2) / 2
    torch.testing.assert_close(output.loss, expected)


def test_part_mean_overall_is_the_mean_of_the_parts(tiny_checkpoint, tiny_processor):
    model = SLAForSessionScoring.from_pretrained(
        tiny_checkpoint, overall_mode="part_mean", ignore_mismatched_sizes=True
    ).eval()
    assert model.head.linear.out_features == 4
    with torch.no_grad():
        scores = model(**tiny_processor(make_session("a", [("P1", 1.0), ("P4", 1.0)]))).scores
    torch.testing.assert_close(scores[:, 4], scores[:, :4].mean(-1))


def test_config_round_trip_and_validation(tiny_checkpoint):
    config = SLAConfig.from_pretrained(tiny_checkpoint)
    assert SLAConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()
    assert config.score_names == ["P1", "P3", "P4", "P5", "overall"] and config.num_app_classes == 8
    assert config.band_values == [2.0 + 0.5 * band for band in range(8)]
    assert config.get_test_format().name == "sandi2025"
    with pytest.raises(Exception, match="at least 2 bands"):
        SLAConfig(num_app_classes=1)
    with pytest.raises(Exception, match="are not the targets of the sandi2025 format"):
        SLAConfig(score_names=["P1", "P1"])
    ielts = SLAConfig(test_format="ielts-like")
    assert ielts.score_names == ["part1", "part2", "part3", "overall"] and ielts.num_app_classes == 19
    assert ielts.band_values[:3] == [0.0, 0.5, 1.0] and ielts.test_format["name"] == "ielts-like"
    with pytest.raises(Exception, match="field scale.step: must be positive"):
        SLAConfig(test_format={**ielts.test_format, "scale": {"min": 0, "max": 9, "step": 0}})


def test_saved_as_safetensors_only(tiny_checkpoint):
    names = {path.name for path in tiny_checkpoint.iterdir()}
    assert "model.safetensors" in names and not any(name.endswith((".bin", ".pt")) for name in names)


def _train_steps(model, batch, steps=8, lr=5e-3):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_optimisation_lowers_the_loss_and_reaches_lora(tiny_checkpoint, tiny_processor):
    model = SLAForSessionScoring.from_pretrained(tiny_checkpoint)
    sessions = [make_session(f"s{i}", [("P1", 1.0 + 0.3 * i), ("P3", 1.5)], seed=i) for i in range(4)]
    scores = [{"P1": 2.5 + i, "P3": 3.0 + 0.5 * i, "overall": 3.0 + 0.5 * i} for i in range(4)]
    batch = tiny_processor(sessions, scores=scores)
    with torch.no_grad():
        model.eval()
        model.fit_head_normalization(model(**batch).pooled_state, label_means=torch.tensor([4.0, 3.75, 0, 0, 3.75]))
    torch.testing.assert_close(model.head.linear.bias[[0, 1, 4]], torch.tensor([4.0, 3.75, 3.75]))
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    losses = _train_steps(model, batch, steps=24, lr=1e-3)
    assert sum(losses[-4:]) / 4 < 0.4 * losses[0], losses  # LoRA dropout makes single steps noisy
    changed = [n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert any("lora_B" in n for n in changed) and any("head.linear" in n for n in changed)
    assert any("app.projector" in n for n in changed)
    frozen = dict(model.named_parameters())["backbone.layers.0.self_attn.qkv_proj.base_layer.weight"]
    assert not frozen.requires_grad and frozen.grad is None


def test_gradient_checkpointing_keeps_lora_gradients(tiny_checkpoint, tiny_processor):
    """Recomputing activations changes no gradient: every trainable one equals the plain backward's to rounding (LoRA
    dropout seeded alike: its masks move LoRA B's gradient even while B = 0 keeps the loss the same)."""
    model = SLAForSessionScoring.from_pretrained(tiny_checkpoint)
    batch = tiny_processor(make_session("a", [("P1", 1.0)]), scores={"P1": 5.0})
    model.train()

    def gradients() -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = gradients()
    model.activation_checkpointing_enable()
    recomputed = gradients()
    lora_b = [n for n in recomputed if "lora_B" in n]  # lora_A has none while B = 0
    assert lora_b and all(float(recomputed[n].abs().sum()) > 0 for n in lora_b)
    assert recomputed.keys() == plain.keys()
    for name, gradient in recomputed.items():
        torch.testing.assert_close(gradient, plain[name], rtol=1e-5, atol=1e-7, msg=name)


def test_frozen_encoders_stay_in_eval_mode(tiny_model):
    tiny_model.train()
    try:
        assert not tiny_model.backbone.embed_tokens_extend.audio_embed.training
        assert not tiny_model.app.encoder.training and tiny_model.head.training
    finally:
        tiny_model.eval()


def test_one_masked_pass_equals_each_clip_alone(tiny_model):
    """Clips of many lengths in one call, padded with garbage: each equals the native clip-alone encoding. Lengths
    cross the conformer's 500-frame unfolding (4,000 feature frames), at and just past it, and several long clips
    share a pass (the native unfold path fails for a batch of those)."""
    from modeling_sla.speech_encoding_sla import passes_within

    audio_embed = tiny_model.backbone.embed_tokens_extend.audio_embed
    lengths = [4500, 301, 57, 1200, 8100, 4001, 4000, 4001, 9]
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(len(lengths), max(lengths), 80, generator=generator) * 4 + 15
    for row, length in enumerate(lengths):
        features[row, length:] = 1e4  # whatever lies past a clip must not matter
    sizes = torch.tensor([-(-length // 8) for length in lengths])
    with torch.no_grad():
        alone = torch.cat([encode_clip_natively(audio_embed, features[row], length, int(sizes[row]))
                           for row, length in enumerate(lengths)])
        together = encode_speech_clips(audio_embed, features, torch.tensor(lengths), sizes)
    assert len(passes_within([-(-length // 8) for length in lengths], 16_000, 500)) < len(lengths)
    scale = float(alone.abs().max())
    print(f"one pass vs each clip alone: largest difference {float((together - alone).abs().max()):.2e} "
          f"(values up to {scale:.3g})")
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5 * max(scale, 1.0))
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-7)


def test_passes_group_clips_by_length_within_the_budget():
    from modeling_sla.speech_encoding_sla import passes_within

    real_session_rows = [188] * 6 + [238] * 5 + [500] * 4  # P1, P5, and P3/P4 cut into rows of 500
    assert passes_within(real_session_rows, 16_000, 500) == [list(range(11)), [11, 12, 13, 14]]
    assert passes_within([57, 301, 1200, 8100, 4001, 4000, 4500], 60_000, 4_000) == [[0, 1, 2], [5, 4, 6], [3]]
    assert passes_within([5, 5], 4, 1) == [[0], [1]]  # each over the budget: alone
    assert passes_within([], 4, 1) == []


def test_trained_weights_survive_save_and_load(tiny_checkpoint, tiny_processor, tmp_path):
    """Loading must not re-initialise LoRA (reset after post_init) or the fixed head statistics."""
    model = SLAForSessionScoring.from_pretrained(tiny_checkpoint).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name or "head.linear" in name:
                parameter.add_(torch.randn_like(parameter) * 0.05)
        model.head.feature_mean.add_(0.1)
        model.head.feature_std.fill_(0.5)
    model.save_pretrained(tmp_path)
    reloaded = SLAForSessionScoring.from_pretrained(tmp_path).eval()
    saved = dict(model.state_dict())
    for name, value in reloaded.state_dict().items():
        torch.testing.assert_close(value, saved[name], rtol=0, atol=0, msg=name)
    inputs = tiny_processor(make_session("s", [("P1", 1.0), ("P5", 1.2)]))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).scores, model(**inputs).scores, rtol=0, atol=1e-6)


def test_tiny_conformer_standardises_speech_like_the_real_checkpoint(tiny_model, tiny_processor):
    """The stand-in ships input statistics of espeak speech, as the real conformer ships those of its data:
    left at 0 and 1, the log-mels reach the conformer with mean 15 and std 4."""
    from sla_phi4.data import espeak_tts
    from sla_phi4.data.synthetic import SAMPLE_RATE

    speech = espeak_tts.synthesize("I have lived in the same town since I was a child.", "de+m2", 150, 50)
    features = tiny_processor.audio_feature_extractor(speech, sampling_rate=SAMPLE_RATE, return_tensors="pt")
    normalization = tiny_model.backbone.embed_tokens_extend.audio_embed.encoder.encoder_embedding
    standardised = normalization(features["audio_input_features"][0])
    assert abs(standardised.mean().item()) < 0.5
    assert 0.6 < standardised.std().item() < 1.6


def _half_changes(whole: torch.Tensor, cut: torch.Tensor) -> tuple[float, float]:
    """Mean change of a clip's encodings `(tokens, dim)` in its first and second half (a 2-token margin around
    the middle left out), relative to the encodings' spread over time."""
    half, spread = whole.shape[0] // 2, whole.std(0).mean()
    change = (whole - cut).abs().mean(-1)
    return (change[: half - 2].mean() / spread).item(), (change[half + 2:].mean() / spread).item()


@torch.no_grad()
def test_random_encoders_keep_local_acoustics(tiny_model, tiny_processor):
    """With every weight at std 0.02 the stand-in encoders returned a global average: silencing a clip's second
    half moved its first half's encodings as much as the rest. He-initialised input layers keep them local."""
    from sla_phi4.data import espeak_tts
    from sla_phi4.data.synthetic import SAMPLE_RATE

    speech = espeak_tts.synthesize("Whenever I get the chance, I volunteer at a local animal shelter.", "pl+f2")
    speech = np.concatenate([speech, speech])
    silenced = speech.copy()
    silenced[speech.size // 2:] = 0

    def conformer(audio):
        features = tiny_processor.audio_feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        return tiny_model.backbone.embed_tokens_extend.audio_embed.encoder(features["audio_input_features"], None)[0]

    whisper_states = speech.size // tiny_processor.app_feature_extractor.hop_length // 2  # those holding speech

    def whisper(audio):
        features = tiny_processor.app_feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        return tiny_model.app.encoder(features["input_features"]).last_hidden_state[0, :whisper_states]

    for encode in (conformer, whisper):
        first, second = _half_changes(encode(speech), encode(silenced))
        assert first < 0.1 and second > 0.5, (encode.__name__, first, second)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
def test_lora_merged_or_in_the_backbone_dtype_scores_close_and_restores_exactly(tiny_checkpoint, tiny_processor, dtype):
    """Merging LoRA for scoring, or holding it in the backbone's dtype, moves scores by rounding only (float32: none
    to speak of), and the float32 adapters and the frozen weights come back bit for bit."""
    from modeling_sla.lora_sla import ADAPTER_NAME, lora_in_dtype, lora_layers, lora_merged

    model = SLAForSessionScoring.from_pretrained(tiny_checkpoint, dtype=dtype).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for layer in lora_layers(model.backbone):  # a trained-looking adapter (B is zero when built)
            layer.lora_B[ADAPTER_NAME].weight.copy_(torch.randn(layer.lora_B[ADAPTER_NAME].weight.shape,
                                                                generator=generator) * 0.02)
    before = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    batch = tiny_processor(make_session("a", [("P1", 1.0), ("P3", 2.0)]))
    with torch.no_grad():
        reference = model(**batch)
        with lora_merged(model.backbone) as merged:
            assert merged == model.num_lora_modules and all(layer.merged for layer in lora_layers(model.backbone))
            merged_output = model(**batch)
        with lora_in_dtype(model.backbone, dtype) as cast:
            assert cast == 2 * model.num_lora_modules
            cast_output = model(**batch)
    state_moves = {name: float((output.pooled_state - reference.pooled_state).norm() / reference.pooled_state.norm())
                   for name, output in (("merged", merged_output), ("in dtype", cast_output))}
    score_move = float((merged_output.scores - reference.scores).abs().max())
    print(f"{dtype}: relative state moves {state_moves}, merged scores move {score_move:.2e}")
    assert max(state_moves.values()) < (1e-5 if dtype == torch.float32 else 2e-2)
    assert state_moves["merged"] > 0 or dtype == torch.float32
    after = model.state_dict()
    assert all(torch.equal(after[name], tensor) and after[name].dtype == tensor.dtype
               for name, tensor in before.items())
    assert not any(layer.merged for layer in lora_layers(model.backbone))
