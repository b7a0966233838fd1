"""sla_phi4/analysis/backbones/ through sla_phi4/analysis/real_configs.py: each file loads into its transformers class with the structure
the model cards and issues state, and gives the published parameter count on the meta device."""

import json

import numpy as np
import pytest
import torch


def meta_parameter_count(model_class, config) -> int:
    with torch.device("meta"):
        model = model_class(config)
    return sum(parameter.numel() for parameter in model.parameters())


@pytest.mark.parametrize("name", ["phi4_multimodal", "voxtral", "qwen2_audio", "whisper_large_v3"])
def test_every_file_loads_and_names_its_sources(name):
    from sla_phi4.analysis.real_configs import CONFIG_CLASSES, load_real_config, real_config_path

    config = load_real_config(name)
    assert isinstance(config, CONFIG_CLASSES[name])
    assert not [key for key in config.to_dict() if key.startswith("_") and key != "_name_or_path"]  # no metadata
    raw = json.loads(real_config_path(name).read_text())
    assert raw["_sources"] and raw["_notes"]
    for source in raw["_sources"]:
        assert source["what"] and ("url" in source or {"repo", "path"} <= set(source)), source


def test_phi4_multimodal_is_the_real_layout():
    from sla_phi4.analysis.real_configs import load_real_config

    config = load_real_config("phi4_multimodal")
    assert (config.vocab_size, config.hidden_size, config.intermediate_size) == (200064, 3072, 8192)
    assert (config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads) == (32, 24, 8)
    assert config.hidden_size // config.num_attention_heads == 128
    rope = config.rope_parameters
    assert rope["rope_type"] == "longrope" and rope["partial_rotary_factor"] == 0.75
    assert config.original_max_position_embeddings == 4096 and config.max_position_embeddings == 131072
    assert len(rope["short_factor"]) == len(rope["long_factor"]) == 48
    assert rope["long_factor"][0] == 1 and rope["long_factor"][-1] == 47.77 and set(rope["short_factor"]) == {1.0}
    assert config.tie_word_embeddings is True and config.rms_norm_eps == 1e-5
    assert (config.bos_token_id, config.pad_token_id, config.eos_token_id) == (199999, 199999, [199999, 200020])
    audio = config.audio_config
    assert (audio.hidden_size, audio.num_blocks, audio.num_attention_heads, audio.intermediate_size) == (1024, 24, 16,
                                                                                                         1536)
    assert (audio.bias_max_distance, audio.time_reduction, audio.nemo_conv_channels, audio.input_size) == (500, 8,
                                                                                                           1024, 80)
    assert (audio.chunk_size, audio.left_chunk, audio.ext_pw_out_channel) == (-1, 18, 1024)
    assert audio.depthwise_separable_out_channel == 1024 and audio.audio_token_id == 200011
    assert config.vision_config.crop_size == 448


def test_phi4_feature_extractor_gives_12_5_tokens_per_second():
    from sla_phi4.analysis.real_configs import load_real_feature_extractor

    extractor = load_real_feature_extractor("phi4_multimodal")
    assert (extractor.sampling_rate, extractor.n_fft, extractor.win_length, extractor.hop_length) == (16000, 512, 400,
                                                                                                      160)
    assert (extractor.feature_size, extractor.audio_compression_rate, extractor.preemphasis) == (80, 8, 0.97)
    features = extractor(np.zeros(15 * 16000, dtype=np.float32), sampling_rate=16000, return_tensors="np")
    assert int(features["audio_embed_sizes"][0]) == 188  # (240000 - 400) // 160 + 1 = 1498 frames, / 8


def test_voxtral_qwen2_audio_and_whisper_are_the_real_layouts():
    from sla_phi4.analysis.real_configs import load_real_config

    voxtral = load_real_config("voxtral")
    text = voxtral.text_config
    assert (text.model_type, text.hidden_size, text.num_hidden_layers, text.num_attention_heads) == ("llama", 3072, 30,
                                                                                                     32)
    assert (text.num_key_value_heads, text.head_dim, text.intermediate_size, text.vocab_size) == (8, 128, 8192,
                                                                                                  131072)
    assert text.rope_parameters["rope_theta"] == 1e8 and text.tie_word_embeddings is False
    audio = voxtral.audio_config
    assert (audio.hidden_size, audio.num_hidden_layers, audio.num_attention_heads, audio.intermediate_size,
            audio.num_mel_bins, audio.max_source_positions) == (1280, 32, 20, 5120, 128, 1500)
    assert voxtral.audio_token_id == 24 and voxtral.projector_hidden_act == "gelu"

    qwen = load_real_config("qwen2_audio")
    text = qwen.text_config
    assert (text.model_type, text.hidden_size, text.num_hidden_layers, text.num_attention_heads,
            text.num_key_value_heads, text.intermediate_size, text.vocab_size) == ("qwen2", 4096, 32, 32, 32, 11008,
                                                                                   156032)
    audio = qwen.audio_config
    assert (audio.d_model, audio.encoder_layers, audio.encoder_attention_heads, audio.encoder_ffn_dim,
            audio.num_mel_bins, audio.max_source_positions) == (1280, 32, 20, 5120, 128, 1500)
    assert qwen.audio_token_index == 151646

    whisper = load_real_config("whisper_large_v3")
    assert (whisper.d_model, whisper.encoder_layers, whisper.decoder_layers, whisper.encoder_attention_heads,
            whisper.encoder_ffn_dim, whisper.num_mel_bins, whisper.vocab_size) == (1280, 32, 32, 20, 5120, 128, 51866)


def test_parameter_counts_match_the_published_sizes():
    from transformers import (
        Phi4MultimodalForCausalLM,
        Qwen2AudioForConditionalGeneration,
        VoxtralForConditionalGeneration,
        WhisperForConditionalGeneration,
    )

    from sla_phi4.analysis.real_configs import load_real_config

    phi4 = load_real_config("phi4_multimodal")
    # The published 5,574,460,224 counts the vision (r 256) and speech (r 320) LoRA adapters the checkpoint holds.
    hidden, inter, layers = phi4.hidden_size, phi4.intermediate_size, phi4.num_hidden_layers
    qkv_out = hidden + 2 * phi4.num_key_value_heads * hidden // phi4.num_attention_heads
    lora_per_rank = layers * ((hidden + qkv_out) + 2 * hidden + (hidden + 2 * inter) + (inter + hidden))
    assert meta_parameter_count(Phi4MultimodalForCausalLM, phi4) + (256 + 320) * lora_per_rank == 5_574_460_224
    for name, model_class, published in [("voxtral", VoxtralForConditionalGeneration, 4.68e9),
                                         ("qwen2_audio", Qwen2AudioForConditionalGeneration, 8.4e9),
                                         ("whisper_large_v3", WhisperForConditionalGeneration, 1.55e9)]:
        count = meta_parameter_count(model_class, load_real_config(name))
        assert abs(count / published - 1) < 0.01, (name, count)


def test_bad_names_and_files_are_reported(tmp_path, monkeypatch):
    from sla_phi4.analysis import real_configs

    with pytest.raises(KeyError, match="known: phi4_multimodal"):
        real_configs.load_real_config("phi4")
    monkeypatch.setattr(real_configs, "BACKBONES_DIR", tmp_path)
    (tmp_path / "voxtral.json").write_text('{"_sources": [{"what": "x", "url": "y"}],\n "text_config": }')
    with pytest.raises(ValueError, match=r"voxtral\.json: line 2"):
        real_configs.load_real_config("voxtral")
    (tmp_path / "voxtral.json").write_text('{"audio_token_id": 24}')
    with pytest.raises(ValueError, match="_sources"):
        real_configs.load_real_config("voxtral")
    (tmp_path / "voxtral.json").write_text('{"_sources": [{"what": "x", "url": "y"}], "audio_token_id": "24"}')
    with pytest.raises(ValueError, match=r"voxtral\.json: does not load into VoxtralConfig"):
        real_configs.load_real_config("voxtral")
