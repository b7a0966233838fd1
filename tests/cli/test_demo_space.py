"""`sla demo-space`: the model it serves, the tiny demo model for `tiny`, 127.0.0.1 and the port."""

import pytest

from sla_phi4.cli import demo_space as command
from sla_phi4.space import interface, scorer
from sla_phi4.testing import demo_model as demo_model_module


class FakeApp:
    launched: dict = {}

    def launch(self, **kwargs):
        FakeApp.launched = kwargs


@pytest.fixture
def served(monkeypatch):
    """Records what would be loaded and served, instead of loading a model and serving it."""
    record = {}

    def demo_model(test_format):
        record["built"] = test_format
        return f"/cache/tiny-{test_format}"

    def load_scorer(model):
        record["loaded"] = model
        return model

    def build_app(loaded, settings):
        record["settings"] = settings
        return FakeApp()

    monkeypatch.setattr(demo_model_module, "demo_model", demo_model)
    monkeypatch.setattr(scorer, "load_scorer", load_scorer)
    monkeypatch.setattr(interface, "build_app", build_app)
    return record


def test_a_folder_or_repo_is_served_on_localhost(served):
    command.main(["--model", "runs/demo/model", "--port", "7999"])
    assert served["loaded"] == "runs/demo/model" and "built" not in served
    assert served["settings"] == interface.AppSettings(model="runs/demo/model", notice=None)
    assert FakeApp.launched["server_name"] == "127.0.0.1" and FakeApp.launched["server_port"] == 7999
    assert FakeApp.launched["theme"] is interface.THEME


def test_tiny_serves_the_cached_demo_model_with_a_notice(served):
    command.main(["--model", "tiny", "--format", "ielts-like"])
    assert served["built"] == "ielts-like" and served["loaded"] == "/cache/tiny-ielts-like"
    assert served["settings"].model == "tiny" and "random" in served["settings"].notice
    assert FakeApp.launched["server_port"] == 7860


def test_format_goes_only_with_tiny(capsys):
    with pytest.raises(SystemExit) as exit_info:
        command.main(["--model", "runs/demo/model", "--format", "ielts-like"])
    assert exit_info.value.code == 2 and "--format goes with --model tiny" in capsys.readouterr().err
