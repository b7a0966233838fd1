"""What every session template shares: its version, and sandboxed compilation."""

from functools import lru_cache

from jinja2.sandbox import ImmutableSandboxedEnvironment


# 2: one template per backbone family (`speech_prompt_*_sla.py`), tokenized piece by piece; no prior token
# without the APP. 3: the test's title and its parts' descriptions come from the test format (S&I's render the same
# text as version 2).
TEMPLATE_VERSION = 3


@lru_cache(maxsize=8)
def compile_template(source: str):
    """Compiles a session template in a sandbox (cached: processors are copied and saved often)."""
    environment = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
    return environment.from_string(source)


__all__ = ["TEMPLATE_VERSION", "compile_template"]
