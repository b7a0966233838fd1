"""The demo Space's files: the app package copied as `sla_space`, its entry `app.py`, requirements that cover every
import, a README with the Space's front matter; and the Space's app runs, and answers through `gradio_client`, where
nothing of this project can be imported."""

import ast
import json
import sys
import textwrap
from importlib.metadata import packages_distributions, version
from pathlib import Path

import numpy as np
import pytest
import soundfile
from huggingface_hub import metadata_load
from packaging.requirements import Requirement
from transformers import pipeline

from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from sla_phi4.data.espeak_tts import synthesize
from sla_phi4.hub.demo_space import TEMPLATE_DIR, SpaceSettings, space_files, write_space
from sla_phi4.space.explain import explain
from sla_phi4.testing import run_beside


REPO = Path(__file__).resolve().parents[2]
APP_SOURCE = REPO / "sla_phi4" / "space"
SETTINGS = SpaceSettings(space_id="sla-org/sla-phi4-demo", model="sla-org/sla-phi4", test_format="ielts-like")
PROJECT = {"sla_phi4", "modeling_sla", "processing_sla"}
PROVIDED_BY_THE_SPACE = {"gradio"}  # the Space's sdk


def third_party_imports(paths) -> set[str]:
    """The top-level modules that `paths` import, other than the standard library and relative imports."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names)


def test_the_space_holds_the_app_package_its_entry_and_its_settings():
    files = space_files(SETTINGS)
    app_files = {f"sla_space/{path.name}" for path in APP_SOURCE.iterdir() if path.suffix in (".py", ".json")}
    assert set(files) == {"README.md", "app.py", "requirements.txt", "space.json"} | app_files
    assert {"sla_space/interface.py", "sla_space/words.json"} <= app_files
    assert all(files[name] == (APP_SOURCE / name.split("/")[1]).read_bytes() for name in app_files)
    assert json.loads(files["space.json"]) == {"model": "sla-org/sla-phi4", "notice": None}
    assert files["app.py"] == (TEMPLATE_DIR / "app.py").read_bytes()


def test_the_readme_is_a_gradio_space_card_pointing_at_the_model(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_bytes(space_files(SETTINGS)["README.md"])
    metadata = metadata_load(readme)
    assert metadata["sdk"] == "gradio" and metadata["app_file"] == "app.py"
    assert metadata["sdk_version"] == version("gradio")
    assert metadata["models"] == ["sla-org/sla-phi4"]
    assert len(metadata["short_description"]) <= 60
    text = readme.read_text(encoding="utf-8")
    assert "$" not in text  # every placeholder filled
    assert 'Client("sla-org/sla-phi4-demo")' in text and '"part": "part1"' in text
    assert "- **part1**, " in text and "1 to 8 answers" in text and "from 0 to 9" in text


def test_the_app_imports_only_its_own_files_and_installed_libraries():
    for path in APP_SOURCE.glob("*.py"):
        assert not third_party_imports([path]) & PROJECT, path.name
    entry = third_party_imports([TEMPLATE_DIR / "app.py"])
    assert entry == {"sla_space"}, entry


def test_the_requirements_cover_every_import_of_the_app_and_the_models_code():
    code = [*APP_SOURCE.glob("*.py"), *(REPO / "modeling_sla").glob("*.py"), *(REPO / "processing_sla").glob("*.py")]
    imported = third_party_imports(code) - PROJECT - PROVIDED_BY_THE_SPACE
    distributions = packages_distributions()
    needed = {distributions[name][0].lower().replace("_", "-") for name in imported}
    lines = (TEMPLATE_DIR / "requirements.txt").read_text().splitlines()
    listed = {Requirement(line).name.lower() for line in lines if line.strip() and not line.startswith("#")}
    assert needed <= listed, sorted(needed - listed)
    assert "gradio" not in listed  # the Space's sdk_version gives it


SPACE_SCRIPT = textwrap.dedent(
    """
    import json, runpy, sys
    from gradio_client import Client, handle_file

    app = runpy.run_path("app.py", run_name="space")  # what `python app.py` builds, without serving forever
    demo = app["demo"]
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        result = Client(demo.local_url, verbose=False).predict(
            responses=[{"part": "P1", "question": "Where do you live?"}, {"part": "P3"}],
            audio=[handle_file(sys.argv[1]), handle_file(sys.argv[2])], api_name="/score_session")
    finally:
        demo.close()
    loaded = sorted({name.split(".")[0] for name, module in sys.modules.items() if module is not None})
    print(json.dumps({"result": result, "loaded": loaded, "model": app["MODEL"]}, allow_nan=False))
    """
)


@pytest.fixture(scope="module")
def pipeline_folder(tiny_model, tiny_processor, tmp_path_factory) -> Path:
    return save_pretrained_with_pipeline(tiny_model, tiny_processor, tmp_path_factory.mktemp("space-model") / "model")


def test_the_space_app_runs_and_answers_without_this_project(pipeline_folder, tmp_path):
    space = write_space(tmp_path / "space", SpaceSettings(space_id="sla-org/demo", model=str(pipeline_folder)))
    p1, p3 = tmp_path / "p1.wav", tmp_path / "p3.wav"
    soundfile.write(p1, synthesize("I live in a small town near the sea, and I like it there."), 16000)
    soundfile.write(p3, np.zeros(16000, dtype=np.float32), 16000)
    report = run_beside(SPACE_SCRIPT, p1, p3, folder=space, timeout=600)

    assert report["model"] == str(pipeline_folder)
    assert "sla_space" in report["loaded"] and not PROJECT & set(report["loaded"])
    scorer = pipeline("spoken-language-assessment", model=str(pipeline_folder), trust_remote_code=True)
    expected = scorer({"session_id": "demo", "responses": [
        {"response_id": "P1-1", "part": "P1", "audio": str(p1), "question": "Where do you live?"},
        {"response_id": "P3-1", "part": "P3", "audio": str(p3), "question": None}]}, decimals=2)
    messages = report["result"].pop("messages")
    assert report["result"] == expected
    assert messages == [message.text for message in explain(expected, scorer.test_format, {"P3-1": 1}).messages]
    assert expected["warnings"][0]["reason"] == "silent"


def test_publishing_the_demo_space_without_gradio_is_an_input_error(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    from sla_phi4.cli.errors import is_usage_error, one_line
    from sla_phi4.hub import demo_space

    def missing(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(demo_space, "version", missing)
    with pytest.raises(ModuleNotFoundError) as error:
        demo_space.gradio_version()
    assert is_usage_error(error.value) and one_line(error.value).endswith("pip install 'sla-phi4[space]'")
