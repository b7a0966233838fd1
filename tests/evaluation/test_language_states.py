"""Pooled language-model states of sessions: the audio positions heard, the head's input, the transcript read."""

import numpy as np
import pytest
import torch

from modeling_sla import SLAForSessionScoring
from processing_sla import SLAProcessor
from sla_phi4.data.sessions import scorable_rows
from sla_phi4.data.synthetic import make_synthetic_corpus
from sla_phi4.evaluation.language_states import heard_states, read_states
from sla_phi4.training.session_cache import SessionCache


@pytest.fixture(scope="module")
def voxtral(family_checkpoints):
    folder = family_checkpoints("voxtral")
    return SLAForSessionScoring.from_pretrained(folder).eval(), SLAProcessor.from_pretrained(folder)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe-corpus")
    make_synthetic_corpus(root, sessions=6, seed=4, duration_scale=0.05, progress=False, gaps=False)
    return scorable_rows(str(root), "train", "error")[:3]


def test_heard_states_are_means_over_each_sessions_audio_positions(voxtral, rows):
    model, processor = voxtral
    cache = SessionCache(model, processor)
    cache.add(rows, "encoders")
    heard, head_inputs = heard_states(model, cache, rows)
    layers = model.family.language_model(model.backbone).config.num_hidden_layers
    hidden = model.family.language_model(model.backbone).config.hidden_size
    assert heard.shape == (len(rows), layers + 1, hidden) and head_inputs.shape == (len(rows), hidden)
    inputs = cache.batch([rows[1]])
    with torch.no_grad():
        outputs = model(**inputs, output_hidden_states=True)
    audio = inputs["input_ids"][0] == model.audio_token_id
    assert 0 < int(audio.sum()) < inputs["input_ids"].shape[1]  # the prompt's text positions are left out
    np.testing.assert_allclose(heard[1, -1], outputs.hidden_states[-1][0, audio].mean(0).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(head_inputs[1], outputs.pooled_state[0].numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(heard[0], heard[1])


def test_read_states_follow_the_words(voxtral):
    model, processor = voxtral
    texts = ["i like my school because it is big", "the economy depends on sustainable growth",
             "i like my school because it is big"]
    read = read_states(model, processor.tokenizer, texts)
    assert read.shape[:2] == (3, model.family.language_model(model.backbone).config.num_hidden_layers + 1)
    np.testing.assert_array_equal(read[0], read[2])
    assert not np.allclose(read[0, -1], read[1, -1])
    ids = processor.tokenizer(texts[1], add_special_tokens=False).input_ids
    embeddings = model.family.input_embeddings(model.backbone).weight[ids].mean(0).detach().numpy()
    np.testing.assert_allclose(read[1, 0], embeddings, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="empty transcript"):
        read_states(model, processor.tokenizer, [""])
