"""A saved folder loads through AutoConfig/AutoModel/AutoProcessor where this package cannot be imported."""

import json
import textwrap

import torch

from sla_phi4.testing import run_isolated, write_file_session


ISOLATED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["modeling_sla"] = None      # the package must not be importable
    sys.modules["processing_sla"] = None
    import torch
    from transformers import AutoConfig, AutoModel, AutoProcessor
    folder, session_file = sys.argv[1], sys.argv[2]
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    with torch.no_grad():
        scores = model(**processor(json.load(open(session_file)))).scores
    print(json.dumps({
        "model_module": type(model).__module__, "processor_module": type(processor).__module__,
        "config_class": type(config).__name__, "scores": scores.tolist(),
        "trainable": model.num_trainable_parameters(),
    }, allow_nan=False))
    """
)


def test_saved_folder_loads_without_the_package(tiny_checkpoint, tiny_model, tiny_processor, tmp_path):
    session_file = write_file_session(tmp_path)
    session = json.loads(session_file.read_text())
    report = run_isolated(ISOLATED_SCRIPT, tiny_checkpoint, session_file, folder=tmp_path)
    assert report["model_module"].startswith("transformers_modules.") and report["model_module"].endswith(
        "modeling_sla")
    assert report["processor_module"].startswith("transformers_modules.")
    assert report["config_class"] == "SLAConfig"
    assert report["trainable"] == tiny_model.num_trainable_parameters()
    with torch.no_grad():
        expected = tiny_model(**tiny_processor(session)).scores
    torch.testing.assert_close(torch.tensor(report["scores"]), expected, rtol=0, atol=1e-6)


def test_checkpoint_folder_has_code_and_auto_map(tiny_checkpoint):
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_sla.SLAConfig", "AutoModel": "modeling_sla.SLAForSessionScoring"}
    processor_config = json.loads((tiny_checkpoint / "processor_config.json").read_text())
    assert processor_config["auto_map"] == {"AutoProcessor": "processing_sla.SLAProcessor"}
    for name in ("modeling_sla.py", "configuration_sla.py", "lora_sla.py", "acoustic_prior_sla.py",
                 "score_head_sla.py", "speech_encoding_sla.py", "processing_sla.py", "audio_io_sla.py",
                 "session_template_sla.py", "conformer_graphs_sla.py"):
        assert (tiny_checkpoint / name).is_file(), name
