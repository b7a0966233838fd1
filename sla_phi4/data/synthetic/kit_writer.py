"""Writing the kit layout: the audio paths, the file lists and marks per split and part (named as the test format
says), the kit-style annotations, ``speakers.tsv`` (the true learner parameters, one learner per line) and the
format itself (``test_format.json``)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from modeling_sla.test_format_sla import FORMAT_FILE, TestFormat
from sla_phi4.data.synthetic.learners import CUE_LOADINGS


def relative_path(split: str, folder: str, part: str, file_id: str) -> str:
    """Where an answer's audio goes, relative to the corpus root."""
    if split == "train":  # the real train tree has one folder per part, dev has none
        return f"data/flac/{split}/{folder}/{part}/{file_id}.flac"
    return f"data/flac/{split}/{folder}/{file_id}.flac"


def prepare_output(root: Path, overwrite: bool) -> None:
    """Refuse to write over a corpus unless `overwrite`, and never delete what this generator did not write."""
    ours = [root / "data" / "flac", root / "reference-materials", root / "synthetic-summary.json", root / FORMAT_FILE]
    present = [p for p in ours if p.exists()]
    if not present:
        return
    if not overwrite:
        raise FileExistsError(f"{root} already holds a corpus ({present[0]}); pass overwrite=True (--overwrite)")
    if not (root / "synthetic-summary.json").exists():
        raise FileExistsError(f"{root} holds data that this generator did not write; refusing to delete it")
    for p in present:
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def _write_tsv(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for row in rows:
            handle.write("\t".join(str(x) for x in row) + "\n")


def write_kit_files(root: Path, sessions: list[dict], splits: tuple[str, ...], test_format: TestFormat) -> None:
    ref = root / "reference-materials"

    def kit_file(kind: str, split: str, target: str) -> Path:
        return root / test_format.kit_file(kind, split, target)

    for split in splits:
        rows = [s for s in sessions if s["split"] == split]
        for part in test_format.part_ids:
            files = sorted((r["file_id"], r["path"]) for s in rows for r in s["responses"] if r["part"] == part)
            _write_tsv(kit_file("file_lists", split, part), files)
            marks = sorted((s["session_id"], f"{s['marks'][part]:.3f}") for s in rows if part in s["released"])
            _write_tsv(kit_file("marks", split, part), marks)
        if test_format.overall is not None:
            with_overall = [s for s in rows if s["overall_released"]]
            files = sorted((r["file_id"], r["path"]) for s in with_overall for r in s["responses"])
            _write_tsv(kit_file("file_lists", split, "overall"), files)
            marks = sorted((s["session_id"], f"{s['marks']['overall']:.3f}") for s in with_overall)
            _write_tsv(kit_file("marks", split, "overall"), marks)
        entries = [
            {"File-id": r["file_id"], "Transcript": r["transcript"], "Question": r["question"]}
            for s in sorted(rows, key=lambda s: s["session_id"]) for r in s["responses"]
        ]
        annotations = root / test_format.kit.annotations
        annotations.mkdir(parents=True, exist_ok=True)
        with open(annotations / f"{split}-synthetic-trans-ref.json", "w", encoding="utf-8") as handle:
            json.dump({"ref-type": "transcription", "files": entries}, handle, allow_nan=False)
    _write_speakers(ref / "speakers.tsv", sessions, test_format)
    test_format.save(root)


_SPEAKER_COLUMNS = (
    "submission_id", "split", "flac_folder", "l1_voice", "voice_variant", "espeak_voice", "pitch", "latent_z",
    "proficiency", *(f"cue_{c}_z" for c in CUE_LOADINGS), "rate_wpm", "pause_scale", "filler_prob",
    "disfluency_rate", "fill_target", "lexical_level", "noise_dbfs", "parts_released", "overall_released",
    "responses",
)


def _write_speakers(path: Path, sessions: list[dict], test_format: TestFormat) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(_SPEAKER_COLUMNS + tuple(f"true_{target}" for target in test_format.score_names))
        for s in sorted(sessions, key=lambda s: s["session_id"]):
            p = s["params"]
            writer.writerow([
                s["session_id"], s["split"], s["folder"], s["l1"], s["variant"], s["voice"], s["pitch"],
                f"{s['z']:.4f}", f"{s['theta']:.4f}", *(f"{s['cue_z'][c]:.4f}" for c in CUE_LOADINGS),
                f"{p['rate_wpm']:.1f}", f"{p['pause_scale']:.4f}", f"{p['filler_prob']:.4f}",
                f"{p['disfluency_rate']:.4f}", f"{p['fill_target']:.4f}", f"{p['lexical_level']:.4f}",
                f"{s['noise_dbfs']:.1f}", ",".join(s["released"]) or "-", int(s["overall_released"]),
                len(s["responses"]), *(f"{s['marks'][t]:.3f}" for t in test_format.score_names),
            ])
