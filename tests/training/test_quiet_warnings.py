"""Warnings the package caused are fixed where they arise, and those that tell the user nothing are dropped there
only: the LongRoPE factor is written explicitly, and the Trainer's "new PAD/BOS/EOS tokens" is dropped while
`sla train` trains, and nowhere else."""

import json
import logging
import os
import subprocess
import sys

from sla_phi4.training.quiet_warnings import TOKEN_ALIGNMENT_LOGGER, quiet_token_alignment


def test_the_token_alignment_warning_is_dropped_only_while_training(caplog):
    logger = logging.getLogger(TOKEN_ALIGNMENT_LOGGER)
    message = "The tokenizer has new PAD/BOS/EOS tokens that differ from the model config and generation config."
    with caplog.at_level(logging.WARNING, logger=TOKEN_ALIGNMENT_LOGGER):
        with quiet_token_alignment():
            logger.warning(message)
            logger.warning("another warning")
        logger.warning(message)
    assert [record.getMessage() for record in caplog.records] == ["another warning", message]


def test_the_checkpoint_writes_longropes_factor_and_loads_without_the_rope_warning(tiny_checkpoint):
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    rope = config["audio_llm_config"]["rope_parameters"]
    assert rope["rope_type"] == "longrope"
    assert rope["factor"] == config["audio_llm_config"]["max_position_embeddings"] / \
        rope["original_max_position_embeddings"]
    code = ("import sys; from transformers import AutoModel; "
            "AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True)")
    result = subprocess.run([sys.executable, "-c", code, str(tiny_checkpoint)], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "original_max_position_embeddings" not in result.stderr
