"""Cue profiles: `content-only` keeps the learners, their marks and the lexical cue of the default corpus, and makes
every delivery cue (rate, pauses, fillers, disfluencies, length) independent of proficiency."""

import numpy as np
import pytest

from sla_phi4.data.synthetic import make_synthetic_corpus
from sla_phi4.data.synthetic.learners import CUE_LOADINGS, CUE_PROFILES, cue_loadings, draw_learner


DELIVERY = ("rate", "pause", "filler", "disfluency", "length")
LEARNERS = 600


def learners(profile: str) -> list[dict]:
    return [draw_learner(0, index, "train", True, cue_strength=2.0, cue_profile=profile) for index in range(LEARNERS)]


def correlation(values, latent) -> float:
    return float(np.corrcoef(values, latent)[0, 1])


def test_content_only_keeps_learners_marks_and_words_and_frees_delivery():
    default, content = learners("default"), learners("content-only")
    assert [learner["marks"] for learner in content] == [learner["marks"] for learner in default]
    assert [learner["params"]["lexical_level"] for learner in content] == [
        learner["params"]["lexical_level"] for learner in default]
    latent = [learner["z"] for learner in content]
    assert correlation([learner["params"]["lexical_level"] for learner in content], latent) > 0.75
    for cue in DELIVERY:
        assert correlation([learner["cue_z"][cue] for learner in default], latent) > 0.5
        assert abs(correlation([learner["cue_z"][cue] for learner in content], latent)) < 0.1, cue
    assert correlation([learner["params"]["rate_wpm"] for learner in content], latent) < 0.1


def test_profiles_are_data_with_every_cue():
    assert CUE_PROFILES["default"] == CUE_LOADINGS
    assert cue_loadings(2.0, "content-only") == {**dict.fromkeys(DELIVERY, 0.0),
                                                 "lexical": cue_loadings(2.0)["lexical"]}
    with pytest.raises(ValueError, match=r"Unknown cue profile 'words'.*cue_profiles.json has \['content-only'"):
        cue_loadings(1.0, "words")


def test_corpus_records_its_profile_and_refuses_an_unknown_one(tmp_path):
    with pytest.raises(ValueError, match="Unknown cue profile"):
        make_synthetic_corpus(tmp_path / "bad", sessions=3, cue_profile="words", progress=False)
    assert not (tmp_path / "bad" / "synthetic-summary.json").exists()
    summary = make_synthetic_corpus(tmp_path / "words", sessions=3, duration_scale=0.03, cue_profile="content-only",
                                    progress=False, workers=1)
    assert summary["cue_profile"] == "content-only"
    assert summary["cue_correlations_with_latent"]["loadings"]["rate"] == 0.0
