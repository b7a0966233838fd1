"""The tiny demo model: built once into the cache with its pipeline, then reused; one folder per format and code."""

import json

from sla_phi4.testing import demo_model as demo_model_module
from sla_phi4.testing.demo_model import demo_model, demo_model_folder


def test_built_once_with_its_pipeline_then_reused(tmp_path, monkeypatch):
    folder = demo_model("toefl-like", root=tmp_path)
    config = json.loads((folder / "config.json").read_text())
    assert "spoken-language-assessment" in config["custom_pipelines"]
    assert (folder / "pipeline_sla.py").is_file() and (folder / "processor_config.json").is_file()
    assert config["test_format"]["name"] == "toefl-like"
    assert not (folder / "parts").exists()  # the stand-ins it was built from stay out
    assert [path.name for path in folder.parent.iterdir()] == [folder.name]  # no build left behind

    def no_build(*args, **kwargs):
        raise AssertionError("a cached demo model was built again")

    monkeypatch.setattr(demo_model_module, "build_tiny_checkpoint", no_build)
    assert demo_model("toefl-like", root=tmp_path) == folder


def test_one_folder_per_format_and_code(tmp_path, monkeypatch):
    sandi, ielts = demo_model_folder("sandi2025", tmp_path), demo_model_folder("ielts-like", tmp_path)
    assert sandi != ielts and sandi.name.startswith("tiny-sandi2025-") and ielts.parent == tmp_path / "demo-model"
    monkeypatch.setattr(demo_model_module, "code_digest", lambda: "other-code")
    assert demo_model_folder("sandi2025", tmp_path) != sandi
