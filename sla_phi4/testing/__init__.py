"""What the tests, the benchmarks and the main job build on, as `transformers.testing_utils` serves transformers':
stand-ins of the Hub repos (`stand_ins`), tiny checkpoints assembled from them (`tiny_checkpoint`), deterministic
sessions and the isolated-process check of remote code."""

from .isolation import run_beside, run_isolated
from .sessions import make_session, noise_clip, write_file_session


__all__ = ["make_session", "noise_clip", "run_beside", "run_isolated", "write_file_session"]
