"""Checkpoints: a full disk or a kill never breaks the last one; one of another config
is refused naming the parameters."""
import errno
import os
import re

import pytest
import torch
import torch.nn as nn
from mmengine.runner import Runner, load_checkpoint

from sgseg.engine import atomic_io
from sgseg.engine.hooks import checkpoint_mismatches
from .toy import toy_cfg


class FullDisk:
    """An ``open`` for atomic_io whose files take ``budget`` bytes, then raise ENOSPC."""

    def __init__(self, budget):
        self.budget = budget

    def __call__(self, *args, **kwargs):
        real = open(*args, **kwargs)
        disk = self

        class Limited:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                real.close()

            def write(self, data):
                if len(data) > disk.budget:
                    real.write(bytes(data[:disk.budget]))
                    disk.budget = 0
                    raise OSError(errno.ENOSPC, 'No space left on device')
                disk.budget -= len(data)
                return real.write(data)

            def __getattr__(self, name):
                return getattr(real, name)

        return Limited()


def test_disk_full_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    Runner.from_cfg(toy_cfg(tmp_path, max_iters=2)).train()
    previous = (tmp_path / 'iter_2.pth').read_bytes()
    monkeypatch.setattr(atomic_io, '_CHUNK', 64)  # several writes per checkpoint
    monkeypatch.setattr(atomic_io, 'open', FullDisk(budget=300), raising=False)
    runner = Runner.from_cfg(toy_cfg(tmp_path, max_iters=3, resume=True))
    with pytest.raises(OSError, match='No space left on device'):
        runner.train()
    monkeypatch.undo()
    assert not (tmp_path / 'iter_3.pth').exists()
    assert (tmp_path / 'iter_2.pth').read_bytes() == previous
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]
    assert (tmp_path / 'last_checkpoint').read_text().endswith('iter_2.pth')
    # and the run resumes from it once there is space again
    resumed = Runner.from_cfg(toy_cfg(tmp_path, max_iters=3, resume=True))
    resumed.train()
    assert resumed.iter == 3 and (tmp_path / 'iter_3.pth').is_file()


def test_plain_mmengine_write_would_truncate(tmp_path, monkeypatch):
    """Why the atomic backend: mmengine's local backend writes the target in place."""
    from mmengine.fileio import LocalBackend
    target = tmp_path / 'iter_1.pth'
    target.write_bytes(b'complete old checkpoint')

    def failing_write(self, obj, filepath):
        with open(filepath, 'wb') as f:
            f.write(obj[:5])
            raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(LocalBackend, 'put', failing_write)
    with pytest.raises(OSError):
        LocalBackend().put(b'new checkpoint bytes', target)
    assert target.read_bytes() == b'new c'  # the old one is gone
    target.write_bytes(b'complete old checkpoint')
    monkeypatch.setattr(atomic_io, 'open', FullDisk(budget=5), raising=False)
    with pytest.raises(OSError):
        atomic_io.AtomicLocalBackend().put(b'new checkpoint bytes', target)
    assert target.read_bytes() == b'complete old checkpoint'


@pytest.mark.parametrize('pointer', ['', 'gone/iter_9.pth'])
def test_empty_or_dangling_last_checkpoint_is_repaired_on_resume(tmp_path, pointer):
    Runner.from_cfg(toy_cfg(tmp_path, max_iters=2)).train()
    (tmp_path / 'last_checkpoint').write_text(pointer)  # as a kill mid-write leaves it
    resumed = Runner.from_cfg(toy_cfg(tmp_path, max_iters=3, resume=True))
    resumed.train()
    assert resumed.iter == 3
    assert (tmp_path / 'last_checkpoint').read_text().endswith('iter_3.pth')


def test_checkpoint_files_keep_the_usual_permissions(tmp_path):
    Runner.from_cfg(toy_cfg(tmp_path, max_iters=1)).train()
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(tmp_path / 'iter_1.pth').st_mode & 0o777 == 0o666 & ~mask


class Small(nn.Module):

    def __init__(self, width):
        super().__init__()
        self.proj = nn.Linear(4, width)
        self.head = nn.Linear(width, 1)


def test_mmengine_load_checkpoint_strict_false_only_warns(tmp_path, capsys):
    """What mmengine does with a checkpoint of another config (why sgseg checks)."""
    path = tmp_path / 'other.pth'
    torch.save(dict(state_dict=Small(8).state_dict()), path)
    model = Small(6)
    before = model.proj.weight.clone()
    load_checkpoint(model, str(path), strict=False)  # only a logged warning
    assert torch.equal(model.proj.weight, before)  # ... and the weights silently stay random
    with pytest.raises(RuntimeError, match=r'size mismatch for proj.weight'):
        load_checkpoint(model, str(path), strict=True)


def test_mismatches_are_named_per_parameter():
    ckpt = Small(8).state_dict()
    ckpt['extra.bias'] = torch.zeros(1)
    del ckpt['head.bias']
    lines = checkpoint_mismatches(Small(6).state_dict(), ckpt)
    assert lines == ['head.weight: checkpoint (1, 8) vs model (1, 6)',
                     'proj.bias: checkpoint (8,) vs model (6,)',
                     'proj.weight: checkpoint (8, 4) vs model (6, 4)',
                     'head.bias: missing in the checkpoint', 'extra.bias: not in the model']


class NotAWeight:
    pass


@pytest.mark.parametrize('content, reason', [
    (b'', r'is empty \(0 bytes\)'),
    ('truncated', r'is truncated \(a zip archive without its end'),
    (b'{"a json": "file"}\n', r'is not a PyTorch checkpoint'),
    ('unsafe', r'holds a tests\.test_reliability\.test_checkpoints\.NotAWeight object, which the '
               r'safe loader refuses'),
    ('tensor', r'holds a Tensor, not a checkpoint'),
])
def test_bad_checkpoint_file_for_test_is_one_line_naming_it(tmp_path, content, reason):
    from mmengine.config import Config

    from sgseg.apis import configure_test
    from sgseg.engine import CheckpointFileError
    ckpt = tmp_path / 'model.pth'
    if content == 'truncated':
        torch.save(dict(state_dict=dict(w=torch.zeros(1000))), ckpt)
        ckpt.write_bytes(ckpt.read_bytes()[:-300])
    elif content == 'unsafe':
        torch.save(dict(state_dict=NotAWeight()), ckpt)
    elif content == 'tensor':
        torch.save(torch.zeros(3), ckpt)
    else:
        ckpt.write_bytes(content)
    cfg = Config(dict(model=dict(test_cfg=dict(seed=0)), default_hooks=dict(),
                      test_evaluator=dict(type='RefSegMetric')))
    with pytest.raises(CheckpointFileError) as err:
        configure_test(cfg, str(ckpt))
    message = str(err.value)
    assert re.fullmatch(rf"checkpoint '{re.escape(str(ckpt))}' {reason}.*", message), message
    assert '\n' not in message and 'weights_only' not in message

