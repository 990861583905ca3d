"""Shared helpers of the reliability tests: a tiny config for fast tool runs."""
from pathlib import Path

from tests.test_tools.conftest import (ROOT, load_tool, run_tool, tiny_synthetic,  # noqa: F401
                                      write_tiny_config)

# A small randomly initialised BERT instead of the 90 MB pretrained encoder: the
# checkpoints of the kill/resume test stay small and quick to write.
SMALL_TEXT = """
model = dict(text_encoder=dict(_delete_=True, type='HFTextEncoder',
                               config=dict(vocab_size=30522, hidden_size=16,
                                           num_hidden_layers=1, num_attention_heads=2,
                                           intermediate_size=32)))
"""


def write_config(path: Path, data_root: Path, extra: str = '', small_text: bool = True,
                 **kwargs) -> Path:
    """The tools' tiny config (tests/test_tools/conftest.py) plus ``extra`` lines."""
    base = write_tiny_config(path.with_name(path.stem + '_base.py'), data_root, **kwargs)
    path.write_text(f"_base_ = ['{base}']\n" + (SMALL_TEXT if small_text else '') + extra)
    return path


__all__ = ['ROOT', 'load_tool', 'run_tool', 'write_config']
