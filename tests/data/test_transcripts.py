"""The kit's reference transcripts: words kept in order, tags dropped, every gap named."""

import json

import pytest

from sla_phi4.data.transcripts import TranscriptError, read_transcripts, session_transcript


def write(root, name: str, document) -> None:
    folder = root / "reference-materials" / "annotations"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")


def test_words_in_order_without_tags(tmp_path):
    write(tmp_path, "dev-subset-trans-ref.json", {"ref-type": "transcription", "files": [
        {"File-id": "S1-P10001", "Transcript": [{"word": "AS"}, {"word": "I", "marks": ["disfluency"]},
                                                 {"tag": "speech-unit-statement"}, {"word": "SAID"}]},
        {"File-id": "S1-P30001", "Transcript": [{"word": "WELL"}]}]})
    write(tmp_path, "train-subset-trans-ref.json", {"files": [{"File-id": "T9-P10001", "Transcript": [{"word": "NO"}]}]})
    words = read_transcripts(tmp_path, "dev")
    assert words == {"S1-P10001": "as i said", "S1-P30001": "well"}
    row = {"session_id": "S1", "responses": [{"response_id": "S1-P10001"}, {"response_id": "S1-P30001"}]}
    assert session_transcript(row, words) == "as i said well"


def test_gaps_and_bad_files_are_named(tmp_path):
    with pytest.raises(TranscriptError, match="no reference transcripts for split 'eval'"):
        read_transcripts(tmp_path, "eval")
    write(tmp_path, "dev-x-trans-ref.json", {"files": [{"File-id": "S1-P10001"}]})
    with pytest.raises(TranscriptError, match="dev-x-trans-ref.json: entry 1 has no"):
        read_transcripts(tmp_path, "dev")
    write(tmp_path, "dev-x-trans-ref.json", '{"files": [')
    with pytest.raises(TranscriptError, match="dev-x-trans-ref.json: not readable as UTF-8 JSON"):
        read_transcripts(tmp_path, "dev")
    write(tmp_path, "dev-x-trans-ref.json", [1, 2])
    with pytest.raises(TranscriptError, match="not a kit transcript file"):
        read_transcripts(tmp_path, "dev")
    row = {"session_id": "S2", "responses": [{"response_id": "S2-P10001"}, {"response_id": "S2-P30001"}]}
    with pytest.raises(TranscriptError, match="Session S2: no reference transcript for response.s. S2-P30001"):
        session_transcript(row, {"S2-P10001": "hello"})
