"""The model card's code runs on a clean machine: a fresh virtual environment gets exactly the card's install line
(pip, offline, from wheels of what is installed here; torch linked in, see `sla_phi4.testing.wheelhouse`), and both
of the card's snippets run there on the card's model folder, where nothing of sla-phi4 is installed."""

import json
import re
import shlex
import subprocess

import pytest
from huggingface_hub import ModelCard

from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from sla_phi4.hub.model_card import write_model_card
from sla_phi4.testing.wheelhouse import fresh_environment


REPO_ID = "sla-org/sla-phi4-tiny"
REPORT = {"split": "eval", "dataset": {"name": "Synthetic S&I-layout corpus", "id": "synthetic"}, "num_sessions": 30,
          "metrics": {name: {"rmse": 0.4, "pcc": 0.7, "src": 0.7, "krc": 0.5, "within_0.5": 75.0,
                             "within_1.0": 97.0, "count": 30} for name in ("P1", "P3", "P4", "P5", "overall")}}


@pytest.mark.slow
def test_the_cards_snippets_run_in_a_venv_built_from_its_install_line(tiny_model, tiny_processor, tmp_path):
    folder = tmp_path / "sla-phi4-tiny"
    save_pretrained_with_pipeline(tiny_model, tiny_processor, folder)
    text = ModelCard.load(write_model_card(folder, [REPORT], repo_id=REPO_ID)).text
    (install,) = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    arguments = shlex.split(install.strip())
    assert arguments[:2] == ["pip", "install"]
    try:
        python = fresh_environment(tmp_path / "clean", arguments[2:])
    except subprocess.CalledProcessError as error:
        pytest.fail(f"pip install of the card's line failed:\n{error.stderr[-3000:]}")
    blocks = [block.replace(REPO_ID, str(folder)) for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL)]
    assert len(blocks) == 2
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True,
                            check=True)
    assert "sla-phi4" not in {entry["name"] for entry in json.loads(listed.stdout)}
    work = tmp_path / "user"
    work.mkdir()
    for index, block in enumerate(blocks):
        (work / f"snippet{index}.py").write_text(block)
        result = subprocess.run([str(python), "-I", f"snippet{index}.py"], cwd=work, capture_output=True, text=True,
                                timeout=600, env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                                                  "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, f"card snippet {index} failed:\n{result.stderr[-3000:]}"
        assert "overall" in result.stdout or "P1" in result.stdout
