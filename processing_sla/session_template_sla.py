"""What every session template shares: the parts it knows, its version, and sandboxed compilation."""

from functools import lru_cache

from jinja2.sandbox import ImmutableSandboxedEnvironment


# 2: one template per backbone family (`speech_prompt_*_sla.py`), tokenized piece by piece; no prior token
# without the APP.
TEMPLATE_VERSION = 2
PARTS = {
    "P1": "interview: short answers to questions about the learner",
    "P3": "long turn: talking for about a minute on a topic",
    "P4": "long turn: describing and explaining a diagram",
    "P5": "communication activity: giving opinions on questions",
}


@lru_cache(maxsize=8)
def compile_template(source: str):
    """Compiles a session template in a sandbox (cached: processors are copied and saved often)."""
    environment = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
    return environment.from_string(source)


__all__ = ["PARTS", "TEMPLATE_VERSION", "compile_template"]
