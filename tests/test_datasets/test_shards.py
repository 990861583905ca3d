"""WebImageTextDataset: shard split across ranks and workers, shuffle, exact resume."""
import io
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from PIL import Image
from torch.utils.data import DataLoader
from webdataset import TarWriter

from sgseg.datasets import WebImageTextDataset, expand_shards, split_sentences
from sgseg.datasets.shards import ShuffleBuffer, count_samples
from tests.fixtures import free_port

SIZES = (7, 5, 9, 6, 4, 8)  # samples per shard: uneven on purpose


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (8, 10, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format='JPEG')
    return out.getvalue()


def write_shards(root: Path, sizes=SIZES) -> list:
    root.mkdir(parents=True, exist_ok=True)
    keys = []
    for s, size in enumerate(sizes):
        with TarWriter(str(root / f'part-{s:04d}.tar'), encoder=False) as writer:
            for i in range(size):
                key = f'{s:04d}{i:04d}'
                writer.write({'__key__': key, 'jpg': jpeg(s * 100 + i),
                              'txt': f'A dog runs. It is brown!\nshard {s} sample {i}'.encode(),
                              'json': json.dumps(dict(texts=['a dog', f'noun {i}'])).encode()})
                keys.append(f'part-{s:04d}.tar/{key}')
    return keys


@pytest.fixture(scope='module')
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp('shards')
    return root, write_shards(root)


def ids(batch):
    return [sample['sent_id'] for sample in batch]


def stream(root, num_workers, batches, batch_size=3, resume=None, **kwargs):
    """The sample ids of the first ``batches`` batches, as the dataloader delivers them."""
    kwargs.setdefault('shuffle_buffer', 5)
    dataset = WebImageTextDataset(shards=str(root), seed=3, **kwargs)
    if resume is not None:
        dataset.set_resume_point(resume, batch_size, num_workers)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                        collate_fn=ids)
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == batches:
            break
    return out


def test_expand_shards(shards, tmp_path):
    root, _ = shards
    every = [str(root / f'part-{s:04d}.tar') for s in range(len(SIZES))]
    assert expand_shards(str(root)) == every
    assert expand_shards('part-*.tar', data_root=str(root)) == every
    assert expand_shards(str(root / 'part-{0001..0002}.tar')) == every[1:3]
    assert expand_shards([every[4], every[0]]) == [every[4], every[0]]
    with pytest.raises(FileNotFoundError, match=r"shard '.*part-0006.tar' not found \(4 of the 5"):
        expand_shards(str(root / 'part-{0005..0009}.tar'))
    with pytest.raises(FileNotFoundError, match='match no .tar file'):
        expand_shards(str(tmp_path))
    assert [count_samples(p) for p in every] == list(SIZES)


def test_every_sample_once_per_epoch_and_epochs_differ(shards):
    root, keys = shards
    one = [i for batch in stream(root, 2, 10 ** 6, max_epochs=1) for i in batch]
    assert sorted(one) == sorted(keys)
    two = [i for batch in stream(root, 0, 10 ** 6, max_epochs=2, batch_size=1)
           for i in batch]
    assert sorted(two[:len(keys)]) == sorted(two[len(keys):]) == sorted(keys)
    assert two[:len(keys)] != two[len(keys):]  # reshuffled
    unshuffled = [i for b in stream(root, 0, 10 ** 6, max_epochs=1, batch_size=1,
                                    shuffle_buffer=1) for i in b]
    assert unshuffled != one and sorted(unshuffled) == sorted(keys)


def _rank_main(rank, port, root, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.set_num_threads(1)
    got = [i for batch in stream(root, 2, 10 ** 6, max_epochs=1) for i in batch]
    Path(out).write_text(json.dumps(got))
    dist.destroy_process_group()


def test_two_ranks_two_workers_read_every_sample_exactly_once(shards, tmp_path):
    root, keys = shards
    port = free_port()
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=_rank_main, args=(r, port, str(root),
                                                 str(tmp_path / f'rank{r}.json')))
             for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    per_rank = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in range(2)]
    assert all(per_rank) and not set(per_rank[0]) & set(per_rank[1])
    together = per_rank[0] + per_rank[1]
    assert len(together) == len(set(together)) and sorted(together) == sorted(keys)


@pytest.mark.parametrize('num_workers', [0, 2])
def test_resume_continues_exactly_where_the_stream_was(shards, num_workers):
    """A run resumed after k batches gets batches k, k+1, ... of an uninterrupted run,
    across epoch ends and with samples waiting in the shuffle buffer."""
    root, keys = shards
    total = 2 * len(keys) // 3 + 5  # more than two epochs of batches of 3
    full = stream(root, num_workers, total)
    for done in (1, 6, 13, total - 2):
        assert stream(root, num_workers, total - done, resume=done) == full[done:], done


def test_too_few_shards_for_the_streams(shards):
    root, _ = shards
    dataset = WebImageTextDataset(shards=str(root / 'part-0000.tar'))
    with pytest.raises(ValueError, match=r'1 shard\(s\) cannot feed 1 rank\(s\) x 2 dataloader'):
        next(iter(DataLoader(dataset, batch_size=None, num_workers=2)))


def test_text_sources_and_a_sample_without_image(shards, tmp_path):
    root, _ = shards
    raw = next(iter(WebImageTextDataset(shards=str(root / 'part-0000.tar'),
                                        shuffle_buffer=1).raw_stream(0, 1)))[1]
    texts = {source: {WebImageTextDataset(shards=str(root), text_source=source,
                                          seed=s).to_sample(raw, 0)['text']
                      for s in range(40)}
             for source in ('sentence', 'caption', 'texts')}
    assert texts['sentence'] == {'A dog runs.', 'It is brown!', 'shard 0 sample 0'}
    assert texts['caption'] == {'A dog runs. It is brown!\nshard 0 sample 0'}
    assert texts['texts'] == {'a dog', 'noun 0'}
    assert split_sentences(' One.  Two?\n\nthree ') == ['One.', 'Two?', 'three']
    with pytest.raises(ValueError, match=r"sample '00000000' of shard '.*part-0000.tar' "
                                         r"has no image \(jpg, jpeg, png, webp\); it has "
                                         r"\['json', 'txt'\]"):
        WebImageTextDataset(shards=str(root)).to_sample(
            {k: v for k, v in raw.items() if k != 'jpg'}, 0)


def test_shuffle_buffer_draws_depend_on_counts_only():
    a = ShuffleBuffer(4, np.random.default_rng(0))
    b = ShuffleBuffer(4, np.random.default_rng(0))
    out_a = [a.push(i) for i in range(10)] + [a.pop() for _ in range(3)]
    out_b = [b.push(f'x{i}') for i in range(10)] + [b.pop() for _ in range(3)]
    assert [None if x is None else f'x{x}' for x in out_a] == out_b
    assert sorted(x for x in out_a if x is not None) == list(range(10))


def test_resume_hook_restarts_the_stream_and_names_a_changed_split(shards, monkeypatch):
    """StreamResumeHook on a runner-like object: the resumed dataloader continues the
    stream, mmengine's skip of the trained batches fetches nothing, and a split that
    differs from the checkpoint's is reported."""
    from mmengine.runner.loops import _InfiniteDataloaderIterator

    from sgseg.engine.hooks import StreamResumeHook
    from sgseg.engine.hooks import stream_resume_hook

    root, _ = shards
    logs = []
    monkeypatch.setattr(stream_resume_hook, 'print_log', lambda msg, **kw: logs.append(msg))
    full = stream(root, 0, 6)

    class Runner:
        iter = 4

        class train_loop:
            dataloader = DataLoader(WebImageTextDataset(shards=str(root), seed=3,
                                                        shuffle_buffer=5),
                                    batch_size=3, num_workers=0, collate_fn=ids)

    Runner.train_loop.dataloader_iterator = _InfiniteDataloaderIterator(
        Runner.train_loop.dataloader)
    hook = StreamResumeHook()
    saved = {}
    hook.before_save_checkpoint(Runner, saved)
    assert saved['stream_split'] == dict(world_size=1, num_workers=0, batch_size=3, seed=3,
                                         num_shards=len(SIZES))
    hook.after_load_checkpoint(Runner, dict(stream_split=dict(saved['stream_split'],
                                                              num_workers=4)))
    hook.before_train(Runner)
    batches = [next(Runner.train_loop.dataloader_iterator) for _ in range(6)]
    assert batches[:4] == [None] * 4 and batches[4:] == full[4:6]
    assert any('num_workers 4 -> 0' in m and 'may repeat or skip' in m for m in logs)
