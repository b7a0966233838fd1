"""Publishing: the dry run checks and lists a checkpoint folder; the real path calls HfApi as expected (mocked)."""

import json
import shutil
from pathlib import Path

import pytest

from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from sla_phi4.cli import main as sla_main
from sla_phi4.cli.push import main
from sla_phi4.hub import publish as push_to_hub
from sla_phi4.hub.demo_space import space_files
from sla_phi4.hub.model_card import write_model_card
from sla_phi4.hub.publish import METRIC_DIR, PublishError, files_to_upload, plan_upload


REPO_ID = "sla-org/sla-phi4-tiny"
REPORT = {
    "split": "eval", "dataset": {"name": "Synthetic S&I-layout corpus", "id": "synthetic"}, "num_sessions": 30,
    "metrics": {name: {"rmse": 0.4, "pcc": 0.7, "src": 0.7, "krc": 0.5, "within_0.5": 75.0, "within_1.0": 97.0,
                       "count": 30} for name in ("P1", "P3", "P4", "P5", "overall")},
}
REPO = Path(__file__).resolve().parents[2]
# Both packages hold only remote code now (the library lives in sla_phi4): every file but their __init__ is imported
# by the saved entry files (relative imports, followed by transformers when it copies remote code).
LIBRARY_ONLY = {"__init__.py"}
CODE_FILES = {path.name for package in ("modeling_sla", "processing_sla") for path in (REPO / package).glob("*.py")
              if path.name not in LIBRARY_ONLY}
EXPECTED_FILES = {
    "model.safetensors", "config.json", "processor_config.json", "tokenizer.json", "tokenizer_config.json",
    "chat_template.jinja", "README.md", "test_format.json", *CODE_FILES,
}
JUNK = (
    "parts/phi4-multimodal/model.safetensors", "parts/whisper/config.json",
    "checkpoint-10/model.safetensors", "checkpoint-10/optimizer.pt", "optimizer.pt", "scheduler.pt",
    "rng_state.pth", "trainer_state.json", "training_args.bin", "__pycache__/modeling_sla.cpython-311.pyc",
    ".cache/huggingface/upload/model.safetensors.metadata", ".git/HEAD", "runs/events.out.tfevents.1",
)


@pytest.fixture(autouse=True)
def one_thread_subprocesses(monkeypatch):
    """The load check's interpreter: tiny models load faster on one thread."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def publish_folder(tiny_model, tiny_processor, tmp_path_factory):
    """A checkpoint with the pipeline and a card, plus files a training run leaves that must not be uploaded."""
    folder = tmp_path_factory.mktemp("publish") / "sla-phi4-tiny"
    save_pretrained_with_pipeline(tiny_model, tiny_processor, folder)
    write_model_card(folder, [REPORT], repo_id=REPO_ID)
    for name in JUNK:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"junk")
    return folder


def copy_without(folder: Path, destination: Path, *names: str) -> Path:
    shutil.copytree(folder, destination, ignore=shutil.ignore_patterns("parts", "checkpoint-*", ".git", ".cache"))
    for name in names:
        (destination / name).unlink()
    return destination


def test_upload_listing(publish_folder):
    plan = plan_upload(publish_folder)
    files = dict(plan.files)
    assert set(files) == EXPECTED_FILES
    assert files["model.safetensors"] == (publish_folder / "model.safetensors").stat().st_size
    assert files["config.json"] == len(plan.contents["config.json"])  # the size of what is sent
    metric_files = {path for path, _ in files_to_upload(METRIC_DIR, push_to_hub.SPACE_IGNORE_PATTERNS)}
    assert {"README.md", "app.py", "requirements.txt", "sla_scoring.py"} <= metric_files


def test_dry_run(publish_folder, capsys):
    main(["--checkpoint", str(publish_folder), "--repo-id", REPO_ID, "--dry-run",
          "--metric-space", "sla-org/sla_scoring"])
    out = capsys.readouterr().out
    assert "loads without the package: SLAForSessionScoring" in out and "SLAProcessor" in out
    assert "spoken-language-assessment" in out
    uploaded = out.split("Would upload to")[1].split("Left out")[0]
    listed = {line.split()[0] for line in uploaded.splitlines()
              if line.startswith("  ") and not line.strip().startswith("total")}
    assert EXPECTED_FILES <= listed
    assert not any(name.split("/")[0] in listed or name in listed for name in JUNK)
    assert f"total ({len(EXPECTED_FILES)} files)" in out
    assert "spaces/sla-org/sla_scoring" in out and "sla_scoring.py" in out


def test_dry_run_fails_clearly(publish_folder, tmp_path, capsys):
    no_config = copy_without(publish_folder, tmp_path / "no-config", "config.json")
    with pytest.raises(PublishError, match="has no config.json: it is not a saved checkpoint"):
        main(["--checkpoint", str(no_config), "--repo-id", REPO_ID, "--dry-run"])
    assert sla_main(["push", "--checkpoint", str(no_config), "--repo-id", REPO_ID, "--dry-run"]) == 2
    assert "has no config.json" in capsys.readouterr().err.splitlines()[0]
    no_card = copy_without(publish_folder, tmp_path / "no-card", "README.md")
    with pytest.raises(PublishError, match="no README.md model card"):
        push_to_hub.dry_run(no_card, REPO_ID)
    no_pipeline_code = copy_without(publish_folder, tmp_path / "no-code", "pipeline_sla.py")
    with pytest.raises(PublishError, match="pipeline_sla.py"):
        push_to_hub.check_folder(no_pipeline_code)
    with pytest.raises(PublishError, match="Name the metric Space"):
        push_to_hub.dry_run(publish_folder, REPO_ID, metric_space="sla-org/metric")


def test_push_refuses_a_card_whose_code_loads_a_path_a_placeholder_or_another_repo(publish_folder, tmp_path,
                                                                                 capsys):
    placeholder = copy_without(publish_folder, tmp_path / "placeholder")
    write_model_card(placeholder, [REPORT])  # no --repo-id: the card loads YOUR-ORG/YOUR-MODEL
    with pytest.raises(PublishError, match="loads 'YOUR-ORG/YOUR-MODEL'"):
        push_to_hub.check_folder(placeholder, REPO_ID)
    local = copy_without(publish_folder, tmp_path / "local")
    card = (local / "README.md").read_text().replace(f'"{REPO_ID}"', f'"{local.resolve()}"')
    (local / "README.md").write_text(card)  # what the card of a run without --repo-id held before
    with pytest.raises(PublishError, match="rewrite the card with `sla card"):
        push_to_hub.check_folder(local, REPO_ID)
    assert sla_main(["push", "--checkpoint", str(local), "--repo-id", REPO_ID, "--dry-run"]) == 2
    assert f"its code loads '{local.resolve()}'" in capsys.readouterr().err
    with pytest.raises(PublishError, match="not the repo pushed to \\(other/name\\)"):
        push_to_hub.check_folder(publish_folder, "other/name")
    assert push_to_hub.card_repo_ids((publish_folder / "README.md").read_text()) == [REPO_ID, REPO_ID]


def test_dry_run_ends_with_what_would_be_uploaded(publish_folder, capsys):
    main(["--checkpoint", str(publish_folder), "--repo-id", REPO_ID, "--dry-run"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("sla push --dry-run: ") and f"would go to https://huggingface.co/{REPO_ID}" in last
    assert f"{len(EXPECTED_FILES)} files" in last and "nothing was uploaded" in last


def test_dry_run_catches_code_that_does_not_load(publish_folder, tmp_path):
    broken = copy_without(publish_folder, tmp_path / "broken")
    (broken / "score_head_sla.py").write_text("raise ImportError('broken on purpose')\n")
    with pytest.raises(PublishError, match="broken on purpose"):
        push_to_hub.dry_run(broken, REPO_ID)


class FakeApi:
    calls: list = []

    def __init__(self, *args, **kwargs):
        FakeApi.calls = []

    def create_repo(self, repo_id, **kwargs):
        FakeApi.calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        FakeApi.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        return self.commit(kwargs["repo_id"])

    def create_commit(self, **kwargs):
        FakeApi.calls.append(("create_commit", kwargs["repo_id"], kwargs))
        return self.commit(kwargs["repo_id"])

    @staticmethod
    def commit(repo_id):
        class Commit:
            commit_url = f"https://huggingface.co/{repo_id}/commit/0"

        return Commit()


def test_push_calls_the_hub_api(publish_folder, monkeypatch, capsys):
    monkeypatch.setattr(push_to_hub, "HfApi", FakeApi)
    main(["--checkpoint", str(publish_folder), "--repo-id", REPO_ID, "--private",
          "--metric-space", "sla-org/sla_scoring"])
    calls = FakeApi.calls
    assert [(name, repo) for name, repo, _ in calls] == [
        ("create_repo", REPO_ID), ("create_commit", REPO_ID),
        ("create_repo", "sla-org/sla_scoring"), ("upload_folder", "sla-org/sla_scoring")]
    assert calls[0][2] == {"repo_type": "model", "private": True, "exist_ok": True}
    upload = calls[1][2]
    assert upload["repo_type"] == "model"
    sent = {operation.path_in_repo: operation.path_or_fileobj for operation in upload["operations"]}
    assert set(sent) == EXPECTED_FILES  # nothing of JUNK
    assert Path(sent["model.safetensors"]) == (publish_folder / "model.safetensors").resolve()
    assert sent["config.json"] == plan_upload(publish_folder).contents["config.json"]  # without local paths
    assert calls[2][2] == {"repo_type": "space", "space_sdk": "gradio", "private": True, "exist_ok": True}
    space_upload = calls[3][2]
    assert space_upload["repo_type"] == "space" and Path(space_upload["folder_path"]) == METRIC_DIR
    assert "commit/0" in capsys.readouterr().out

    # public by default (the account's default visibility), and no Space unless asked
    main(["--checkpoint", str(publish_folder), "--repo-id", REPO_ID])
    assert [(name, repo) for name, repo, _ in FakeApi.calls] == [("create_repo", REPO_ID), ("create_commit", REPO_ID)]
    assert FakeApi.calls[0][2]["private"] is None


# ------------------------------------------------------------------- only what a model repo needs is published
HOSTILE = {
    ".env": "HF_TOKEN=hf_secret", ".netrc": "machine huggingface.co password hf_secret", "id_rsa": "PRIVATE KEY",
    "secrets.json": '{"token": "hf_secret"}', "optimizer_state.pkl": "pickle", "pytorch_model.bin": "pickle",
    "sample.flac": "audio", "train.log": "log", "notes.py": "print('not model code')",
}


@pytest.fixture
def hostile_folder(publish_folder, tmp_path):
    """The checkpoint with secrets, pickles, audio, logs, stray code and symlinks left in it."""
    folder = copy_without(publish_folder, tmp_path / "hostile")
    for name, text in HOSTILE.items():
        (folder / name).write_text(text)
    (folder / "passwd.json").symlink_to("/etc/passwd")
    (folder / "weights-link.safetensors").symlink_to(folder / "model.safetensors")
    return folder


def test_only_what_a_model_repo_needs_is_listed(hostile_folder, capsys):
    plan = push_to_hub.plan_upload(hostile_folder)
    assert {path for path, _ in plan.files} == EXPECTED_FILES | {"weights-link.safetensors"}  # a link inside is kept
    left_out = dict(plan.left_out)
    assert set(HOSTILE) | {"passwd.json"} <= set(left_out)
    assert all("secret" in left_out[name] for name in (".env", ".netrc", "id_rsa", "secrets.json"))
    assert all("pickle" in left_out[name] for name in ("optimizer_state.pkl", "pytorch_model.bin"))
    assert "audio" in left_out["sample.flac"] and "log" in left_out["train.log"]
    assert "code the configs do not name" in left_out["notes.py"]
    assert "symbolic link out of the folder" in left_out["passwd.json"] and "/etc/passwd" in left_out["passwd.json"]
    main(["--checkpoint", str(hostile_folder), "--repo-id", REPO_ID, "--dry-run"])
    out = capsys.readouterr().out
    listed = out.split("Would upload")[1].split("Left out")[0]
    assert all(name not in listed for name in HOSTILE) and "passwd" not in listed
    assert "warning: left out 4 file(s) that look like secrets or credentials" in out
    assert f"Left out ({len(left_out)}" in out


def test_subfolders_and_build_parts_are_left_out_with_a_reason(publish_folder):
    left_out = dict(push_to_hub.plan_upload(publish_folder).left_out)
    assert "build parts" in left_out["parts/ (2 files)"]
    assert "trainer checkpoint" in left_out["checkpoint-10/ (2 files)"]
    assert "training state" in left_out["optimizer.pt"] and "training state" in left_out["trainer_state.json"]


def local_paths(value, where=""):
    """Dotted keys of the `_name_or_path` entries holding absolute paths."""
    if not isinstance(value, dict):
        return []
    found = []
    for key, item in value.items():
        dotted = f"{where}.{key}" if where else key
        if key == "_name_or_path" and isinstance(item, str) and item.startswith("/"):
            found.append(dotted)
        found += local_paths(item, dotted)
    return found


def test_config_is_published_without_local_paths(publish_folder):
    plan = push_to_hub.plan_upload(publish_folder)
    local = json.loads((publish_folder / "config.json").read_text())
    removed = sorted(local_paths(local))
    assert len(removed) == 2  # the sub-configs of the backbone and the Whisper encoder, as save_pretrained writes
    published = json.loads(plan.contents["config.json"])
    assert local_paths(published) == [] and plan.rewritten["config.json"] == removed
    for key in removed:  # nothing else changes
        section, _ = key.rsplit(".", 1)
        del local[section]["_name_or_path"]
    assert published == local
    hub_id = push_to_hub.without_local_paths({"_name_or_path": "microsoft/Phi-4-multimodal-instruct"})
    assert hub_id == ({"_name_or_path": "microsoft/Phi-4-multimodal-instruct"}, [])  # a Hub id is kept


# ------------------------------------------------------------------------------------------------- the demo Space
DEMO_SPACE = "sla-org/sla-phi4-demo"


def test_dry_run_lists_the_demo_space(publish_folder, capsys):
    main(["--checkpoint", str(publish_folder), "--repo-id", REPO_ID, "--dry-run", "--demo-space", DEMO_SPACE])
    out = capsys.readouterr().out
    listing = out.split(f"spaces/{DEMO_SPACE} (serving {REPO_ID}):")[1]
    listed = {line.split()[0] for line in listing.splitlines() if line.startswith("  ") and "total" not in line}
    settings = push_to_hub.demo_space_settings(publish_folder, REPO_ID, DEMO_SPACE)
    assert listed == set(space_files(settings)) and {"app.py", "sla_space/interface.py"} <= listed


def test_push_uploads_the_demo_space_serving_the_model_repo(publish_folder, monkeypatch):
    monkeypatch.setattr(push_to_hub, "HfApi", FakeApi)
    main(["--checkpoint", str(publish_folder), "--repo-id", REPO_ID, "--demo-space", DEMO_SPACE])
    calls = FakeApi.calls
    assert [(name, repo) for name, repo, _ in calls] == [
        ("create_repo", REPO_ID), ("create_commit", REPO_ID), ("create_repo", DEMO_SPACE),
        ("create_commit", DEMO_SPACE)]
    assert calls[2][2] == {"repo_type": "space", "space_sdk": "gradio", "private": None, "exist_ok": True}
    assert calls[3][2]["repo_type"] == "space"
    sent = {operation.path_in_repo: operation.path_or_fileobj for operation in calls[3][2]["operations"]}
    assert sent == space_files(push_to_hub.demo_space_settings(publish_folder, REPO_ID, DEMO_SPACE))
    assert json.loads(sent["space.json"])["model"] == REPO_ID and f"- {REPO_ID}" in sent["README.md"].decode()
