"""sla_phi4/analysis/real_size.py: analytic FLOPs per backbone family, checked against the real modules' shapes (built on the
meta device) and the real processors' token counts, and the table the benchmark prints."""

import math

import pytest
import torch
from torch import nn


def meta_model(model_class, name):
    from sla_phi4.analysis.real_configs import load_real_config

    with torch.device("meta"):
        return model_class(load_real_config(name))


def linear_weights(module) -> int:
    return sum(child.weight.numel() for child in module.modules() if isinstance(child, nn.Linear))


@pytest.mark.parametrize("name", ["phi4_multimodal", "voxtral", "qwen2_audio"])
def test_decoder_flops_follow_the_real_layers(name):
    """f(T) = 2 T (linear weights of the layers) + layers * 2 T^2 (query width): recovered from f(1) and f(2)."""
    from transformers import AutoModel

    from sla_phi4.analysis.real_configs import load_real_config
    from sla_phi4.analysis.real_size import decoder_flops, text_config_of

    text = text_config_of(load_real_config(name))
    with torch.device("meta"):
        decoder = AutoModel.from_config(text)
    one, two = decoder_flops(text, 1), decoder_flops(text, 2)
    assert (4 * one - two) / 4 == linear_weights(decoder.layers)  # GQA k/v widths and the real head_dim included
    attention = decoder.layers[0].self_attn
    assert (two - 2 * one) / 4 == text.num_hidden_layers * text.num_attention_heads * attention.head_dim


@pytest.mark.parametrize("name", ["whisper_large_v3", "voxtral", "qwen2_audio"])
def test_whisper_window_flops_follow_the_real_encoder(name):
    from transformers import AutoModel

    from sla_phi4.analysis.real_configs import load_real_config
    from sla_phi4.analysis.real_size import whisper_window_flops

    config = load_real_config(name)
    encoder_config = config if name == "whisper_large_v3" else config.audio_config
    with torch.device("meta"):
        model = AutoModel.from_config(encoder_config)
    encoder = model.encoder if name == "whisper_large_v3" else model
    positions = encoder_config.max_source_positions
    expected = (2 * positions * linear_weights(encoder.layers)
                + 2 * encoder.conv1.weight.numel() * 2 * positions + 2 * encoder.conv2.weight.numel() * positions
                + len(encoder.layers) * 4 * positions ** 2 * encoder_config.d_model)
    assert whisper_window_flops(encoder_config) == expected


def test_audio_tokens_match_the_real_models():
    from transformers import Qwen2AudioForConditionalGeneration, VoxtralForConditionalGeneration

    from sla_phi4.analysis.real_configs import load_real_config
    from sla_phi4.analysis.real_size import SETTINGS, qwen2_audio_piece_tokens, voxtral_window_tokens

    voxtral = meta_model(VoxtralForConditionalGeneration, "voxtral")
    with torch.device("meta"):
        embeds = voxtral.get_audio_features(torch.empty(1, 128, 3000)).pooler_output
    assert embeds.shape[0] == voxtral_window_tokens(load_real_config("voxtral")) == 375

    qwen_config = load_real_config("qwen2_audio")
    encoder = meta_model(Qwen2AudioForConditionalGeneration, "qwen2_audio").model.audio_tower
    for seconds in (15.0, 15.025, 19.0, 28.0, SETTINGS.whisper_window_seconds):
        frames = math.ceil(int(seconds * 16000) / 160)  # the feature extractor's attention mask, 100 frames per second
        _, tokens = encoder._get_feat_extract_output_lengths(torch.tensor(frames))
        assert qwen2_audio_piece_tokens(qwen_config, seconds) == int(tokens)


def test_phi4_framing_matches_the_real_feature_extractor():
    import numpy as np

    from sla_phi4.analysis.real_configs import load_real_feature_extractor
    from sla_phi4.analysis.real_size import phi4_framing

    extractor = load_real_feature_extractor("phi4_multimodal")
    for seconds in (0.3, 15.0, 19.0, 58.0):
        features = extractor(np.zeros(int(seconds * 16000), dtype=np.float32), sampling_rate=16000,
                             return_tensors="np")
        assert int(features["audio_embed_sizes"][0]) == phi4_framing().tokens(seconds), seconds


def test_session_tokens_and_windows_per_family():
    from sla_phi4.analysis.real_configs import load_real_config
    from sla_phi4.analysis.real_size import SETTINGS, session_flops

    lengths = SETTINGS.session_lengths
    assert sum(lengths) == 301.0 and len(lengths) == 13
    app = load_real_config("whisper_large_v3")
    phi4 = session_flops(load_real_config("phi4_multimodal"), app, lengths, text_tokens=300)
    voxtral = session_flops(load_real_config("voxtral"), app, lengths, text_tokens=300)
    qwen = session_flops(load_real_config("qwen2_audio"), app, lengths, text_tokens=300)
    assert phi4.audio_tokens == 6 * 188 + 2 * 725 + 5 * 238  # 12.5 per second, per clip
    # valid tokens only, as this package keeps them: 12.5 per second per 30 s piece (Voxtral's own processor would
    # give 375 to every started window: (6 + 2 * 2 + 5) * 375 = 5,625)
    from processing_sla import speech_prompt
    from sla_phi4.analysis.real_size import window_pieces

    voxtral_prompt = speech_prompt("voxtral")
    assert voxtral.audio_tokens == phi4.audio_tokens == sum(
        voxtral_prompt.window_tokens(round(piece * 100)) for seconds in lengths for piece in window_pieces(seconds))
    assert qwen.audio_tokens == 6 * 375 + 2 * (750 + 700) + 5 * 475  # 25 per second; 58 s = 30 s + 28 s pieces
    assert phi4.app_windows == voxtral.app_windows == 11  # the APP packs the 301 s into 11 windows
    assert voxtral.tokens == voxtral.audio_tokens + 300
    assert session_flops(load_real_config("voxtral"), None, lengths).app_whisper == 0.0


def test_family_rows_floors_and_table():
    from sla_phi4.analysis.real_size import SETTINGS, family_rows, format_family_table

    rows = family_rows(["phi4", "voxtral", "qwen2-audio"], text_tokens=270)
    for row in rows:
        parts = row["tflop_decoder"] + row["tflop_audio_tower"] + row["tflop_app_whisper"]
        assert row["tflop_total"] == pytest.approx(parts)
        assert row["h100_floor_scoring_s_per_session"] == pytest.approx(row["tflop_total"] * 1e12 / 989e12)
        assert row["train_sessions"] == pytest.approx(244 * 3600 / 301)
        assert 0 < row["h100_floor_3_epochs_cached_h"] < row["h100_floor_3_epochs_uncached_h"]
        assert row["text_tokens"] == 270
    assert rows[0]["tflop_total"] < rows[1]["tflop_total"] < rows[2]["tflop_total"]
    table = format_family_table(rows).splitlines()
    assert len(table) == 5 and table[2].startswith("| phi4 | 4,038 (3,768 + 270) |")
    assert SETTINGS.families == {"phi4": "phi4_multimodal", "voxtral": "voxtral", "qwen2-audio": "qwen2_audio"}


def test_unknown_families_and_towers_are_named():
    from types import SimpleNamespace

    from sla_phi4.analysis.real_size import family_row, session_flops

    with pytest.raises(KeyError, match="known: phi4, voxtral, qwen2-audio"):
        family_row("gemma")
    with pytest.raises(KeyError, match="model_type 'llama'"):
        session_flops(SimpleNamespace(model_type="llama"), None, [10.0])
