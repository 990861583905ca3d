"""Image–caption corpora as WebDataset shards, streamed.

A shard is a ``.tar`` of samples ``<key>.jpg`` (or ``.jpeg/.png/.webp``) with
``<key>.txt`` (the caption) and/or ``<key>.json`` (``{"caption": ...}`` or
``{"texts": [...]}``), the layout ``img2dataset`` writes. The tar files are read with
the ``webdataset`` library; what this module adds is the split of the shards across
ranks and dataloader workers, a seeded shuffle buffer, the choice of the sentence,
and an exact resume (:class:`WebImageTextDataset`).
"""
import glob
import json
import os.path as osp
import re
import tarfile
import zlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import Compose
from mmengine.dist import get_dist_info
from torch.utils.data import IterableDataset, get_worker_info

from sgseg.registry import DATASETS

TEXT_SOURCES = ('sentence', 'caption', 'texts')
_SENTENCE_END = re.compile(r'(?<=[.!?])\s+|\n+')


def expand_shards(shards: Union[str, Sequence[str]], data_root: str = '') -> List[str]:
    """The shard files of a directory, a glob, a brace pattern or a list of those.

    Args:
        shards: ``'data/cc/shards'`` (every ``*.tar`` in it), ``'shards/*.tar'``,
            ``'shards/train-{000000..000099}.tar'``, or a list of such.
        data_root: the folder relative paths are under.

    Returns:
        The shard paths, sorted within each pattern.

    Raises:
        FileNotFoundError: naming the pattern that matches nothing or the shard
            that does not exist.
    """
    from webdataset.shardlists import expand_urls

    patterns = [shards] if isinstance(shards, str) else list(shards)
    paths: List[str] = []
    for pattern in patterns:
        full = osp.join(data_root or '', pattern)
        if osp.isdir(full):
            found = sorted(glob.glob(osp.join(full, '*.tar')))
        elif any(c in full for c in '*?['):
            found = sorted(glob.glob(full))
        else:
            found = expand_urls(full)
        if not found:
            raise FileNotFoundError(f"shards '{full}' match no .tar file")
        missing = [p for p in found if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(f"shard '{missing[0]}' not found ({len(missing)} of "
                                    f"the {len(found)} shards of '{full}' are missing)")
        paths += found
    return paths


def split_sentences(caption: str) -> List[str]:
    """The sentences of a caption: split at line breaks and after ``. ! ?``."""
    return [s.strip() for s in _SENTENCE_END.split(caption) if s.strip()]


def read_shard(path: str) -> Iterator[dict]:
    """The raw samples of a shard, in order (``__key__``, ``__url__``, bytes per
    extension), as the ``webdataset`` library groups them."""
    from webdataset.tariterators import tarfile_samples

    return tarfile_samples([dict(url=path)])


def count_samples(path: str) -> int:
    """Number of samples of a shard, from the tar headers alone (no data is read).

    Counts the runs of consecutive files with the same key, as the ``webdataset``
    library groups them.
    """
    from webdataset.tariterators import base_plus_ext

    count, last = 0, None
    with tarfile.open(path) as tar:
        for member in tar:
            if not member.isreg() or member.name.startswith('__'):
                continue
            key = base_plus_ext(member.name)[0]
            if key is not None and key != last:
                count, last = count + 1, key
    return count


class ShuffleBuffer:
    """A seeded shuffle buffer: it fills to ``size``, then every item pushed sends out
    one drawn at random; :meth:`pop` empties it at the end, also at random.

    The draws depend only on the number of items, never on their content, so the
    same generator replays the same order on placeholders (how a resume finds where
    a stream was).

    Args:
        size: the buffer's capacity (1: no shuffling).
        rng: the generator of the draws.
    """

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng, self.items = max(1, size), rng, []

    def push(self, item) -> Optional[object]:
        """Add ``item``; once the buffer is full, return an item drawn at random."""
        self.items.append(item)
        return self.pop() if len(self.items) >= self.size else None

    def pop(self):
        """Remove and return an item drawn at random."""
        j = int(self.rng.integers(len(self.items)))
        self.items[j], self.items[-1] = self.items[-1], self.items[j]
        return self.items.pop()


@DATASETS.register_module()
class WebImageTextDataset(IterableDataset):
    """A stream of (image, sentence) samples from WebDataset shards.

    **Split.** Every epoch the shard list is permuted with a generator seeded by
    ``(seed, epoch)``, the same on every rank, and stream ``s`` of the
    ``world_size * num_workers`` streams (``s = rank * num_workers + worker_id``)
    reads the shards ``s, s + S, s + 2S, ...`` of it: in an epoch every shard is read
    by exactly one worker of one rank, so every sample is read exactly once. There
    must be at least as many shards as streams. The stream does not stop at the end of
    an epoch (unless ``max_epochs`` is set): it goes on with the next one, so an
    ``IterBasedTrainLoop`` never restarts the dataloader. Ranks may be in different
    epochs at a time, as their shards hold different numbers of samples.

    **Shuffle.** Within a stream, samples go through a :class:`ShuffleBuffer` of
    ``shuffle_buffer`` samples seeded by ``(seed, epoch, stream)``.

    **Sentence.** ``text_source='sentence'`` draws one sentence of the caption
    (:func:`split_sentences` of the ``.txt``, or of the ``.json``'s ``caption``),
    ``'caption'`` uses the whole caption, ``'texts'`` draws one of the ``.json``'s
    ``texts`` (say, noun phrases extracted beforehand). Draws are seeded by
    ``(seed, epoch, sample)``.

    **Resume.** :meth:`set_resume_point` (called by :class:`StreamResumeHook` when a
    run resumes) makes every stream continue right after the last sample it delivered
    before the checkpoint: the resumed run sees exactly the samples, in the same
    order, that an uninterrupted run would have seen, with no repeat and no gap,
    provided the world size, ``num_workers``, ``batch_size``, ``seed`` and shards are
    the same (the random *augmentations* of the pipeline are not replayed). It costs
    reading the tar headers of the shards of the finished epochs, the shards whose
    samples were waiting in the shuffle buffer, and the current shard up to the
    resume point; no image is decoded.

    Args:
        shards: the shards (see :func:`expand_shards`).
        pipeline: the transforms (the same as for the file datasets: the image bytes
            arrive in ``img_bytes``, which :class:`LoadRefImage` decodes).
        data_root: the folder relative shard paths are under.
        text_source: ``'sentence'``, ``'caption'`` or ``'texts'``.
        shuffle_buffer: samples in the shuffle buffer (1: no shuffling).
        seed: seed of the shard order, the buffer and the sentence draws.
        max_epochs: stop after this many epochs (None: never stop).
        image_keys: the extensions looked for the image, in order.
        num_samples: the corpus size, if known (only for :meth:`__len__`).
        metainfo: extra meta information (``classes`` and ``palette`` by default).
    """

    METAINFO = dict(classes=('background', 'referred'), palette=[[0, 0, 0], [255, 0, 0]])

    def __init__(self,
                 shards: Union[str, Sequence[str]],
                 pipeline: Sequence[dict] = (),
                 data_root: str = '',
                 text_source: str = 'sentence',
                 shuffle_buffer: int = 1000,
                 seed: int = 0,
                 max_epochs: Optional[int] = None,
                 image_keys: Sequence[str] = ('jpg', 'jpeg', 'png', 'webp'),
                 num_samples: Optional[int] = None,
                 metainfo: Optional[dict] = None) -> None:
        if text_source not in TEXT_SOURCES:
            raise ValueError(
                f'text_source must be one of {TEXT_SOURCES}, got {text_source!r}')
        self.shards = expand_shards(shards, data_root)
        self.pipeline = Compose(list(pipeline))
        self.text_source = text_source
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.max_epochs = max_epochs
        self.image_keys = tuple(image_keys)
        self.num_samples = num_samples
        self._metainfo = dict(self.METAINFO, **(metainfo or {}))
        # Taken here, in the rank's process: a dataloader worker may not see the
        # process group.
        self.rank, self.world_size = get_dist_info()
        self._resume: Optional[Tuple[int, int, int]] = None
        self._counts: Dict[str, int] = {}

    @property
    def metainfo(self) -> dict:
        """The dataset's meta information (as mmengine's datasets have)."""
        return dict(self._metainfo)

    def __len__(self) -> int:
        """A nominal length, per rank.

        mmengine's ``LoggerHook`` asks for the training dataloader's length at every
        iteration (to spot the end of an epoch), which a stream without end does not
        have: ``num_samples / world_size`` when the corpus size is given, otherwise a
        number no run reaches, so that no epoch end is ever seen.
        """
        if self.num_samples is not None:
            return -(-self.num_samples // self.world_size)
        return 2 ** 62

    def set_resume_point(self, batches_done: int, batch_size: int, num_workers: int) -> None:
        """Start the next iteration after ``batches_done`` batches of this rank.

        A dataloader with ``W`` workers takes batch ``b`` from worker ``b % W``, each
        worker batching its own stream, so worker ``w`` had delivered
        ``batch_size * len(range(w, batches_done, W))`` samples; a new dataloader
        starts again at worker 0, so its worker ``w`` continues the stream of worker
        ``(w + batches_done) % W``.

        Args:
            batches_done: batches this rank's dataloader delivered (the iteration).
            batch_size: the dataloader's batch size.
            num_workers: the dataloader's workers (0 counts as 1).
        """
        self._resume = (batches_done, batch_size, max(1, num_workers))

    def shards_of(self, epoch: int, stream: int, num_streams: int) -> List[str]:
        """The shards stream ``stream`` of ``num_streams`` reads in ``epoch``, in order."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.shards))
        return [self.shards[i] for i in order[stream::num_streams]]

    def _stream_id(self) -> Tuple[int, int, int]:
        """(stream, number of streams, samples already delivered by this stream)."""
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        num_streams = self.world_size * workers
        if len(self.shards) < num_streams:
            raise ValueError(
                f'{len(self.shards)} shard(s) cannot feed {self.world_size} rank(s) x '
                f'{workers} dataloader worker(s): every worker needs a shard of its own. '
                'Write more, smaller shards, or lower num_workers.')
        role, done = worker, 0
        if self._resume is not None:
            batches, batch_size, resume_workers = self._resume
            if resume_workers != workers:
                raise ValueError(f'resume point set for {resume_workers} workers, the '
                                 f'dataloader has {workers}')
            # The new dataloader takes its first batch from worker 0, the interrupted
            # one would have taken it from worker ``batches % workers``: worker w
            # continues the stream of worker (w + batches) % workers.
            role = (worker + batches) % workers
            done = batch_size * len(range(role, batches, workers))
        return self.rank * workers + role, num_streams, done

    def __iter__(self) -> Iterator[dict]:
        stream, num_streams, done = self._stream_id()
        for epoch, raw in self.raw_stream(stream, num_streams, done):
            yield self.pipeline(self.to_sample(raw, epoch))

    def raw_stream(self, stream: int, num_streams: int, skip: int = 0
                   ) -> Iterator[Tuple[int, dict]]:
        """The undecoded samples of a stream with their epoch, after the first ``skip``.

        Args:
            stream: the stream's index.
            num_streams: the number of streams.
            skip: samples the stream delivered before (a resume).

        Yields:
            ``(epoch, raw sample)``.
        """
        epoch, buffer, shard_index, sample_index = self._fast_forward(
            stream, num_streams, skip)
        while self.max_epochs is None or epoch < self.max_epochs:
            shards = self.shards_of(epoch, stream, num_streams)
            if buffer is None:
                buffer = ShuffleBuffer(self.shuffle_buffer,
                                       np.random.default_rng([self.seed, epoch, stream]))
            for shard in shards[shard_index:]:
                for i, raw in enumerate(read_shard(shard)):
                    if i < sample_index:
                        continue
                    out = buffer.push(raw)
                    if out is not None:
                        yield epoch, out
                sample_index = 0
            while buffer.items:
                yield epoch, buffer.pop()
            epoch, buffer, shard_index = epoch + 1, None, 0

    def _count(self, shard: str) -> int:
        if shard not in self._counts:
            self._counts[shard] = count_samples(shard)
        return self._counts[shard]

    def _fast_forward(self, stream: int, num_streams: int, skip: int
                      ) -> Tuple[int, Optional[ShuffleBuffer], int, int]:
        """Where a stream is after delivering ``skip`` samples.

        Whole epochs are skipped from the shards' sample counts; within the epoch,
        the buffer's draws are replayed on ``(shard, sample)`` placeholders, then the
        samples still in the buffer are read from their shards.

        Returns:
            ``(epoch, buffer or None, shard index, sample index)``: the next sample to
            push is sample ``sample index`` of shard ``shard index`` of the epoch.
        """
        if skip == 0:
            return 0, None, 0, 0
        epoch = 0
        while True:
            if self.max_epochs is not None and epoch >= self.max_epochs:
                return epoch, None, 0, 0
            shards = self.shards_of(epoch, stream, num_streams)
            counts = [self._count(s) for s in shards]
            if skip < sum(counts):
                break
            if sum(counts) == 0:
                raise ValueError(f'the shards of stream {stream} hold no sample: {shards}')
            skip -= sum(counts)
            epoch += 1
        buffer = ShuffleBuffer(self.shuffle_buffer,
                               np.random.default_rng([self.seed, epoch, stream]))
        placeholders = ((si, i) for si, count in enumerate(counts) for i in range(count))
        position = (len(shards), 0)
        emitted = 0
        for item in placeholders:
            if emitted == skip:
                position = item
                break
            emitted += buffer.push(item) is not None
        while emitted < skip:  # the resume point is in the epoch's final draining
            buffer.pop()
            emitted += 1
        wanted: Dict[int, set] = {}
        for shard_index, sample_index in buffer.items:
            wanted.setdefault(shard_index, set()).add(sample_index)
        found = {}
        for shard_index, indices in wanted.items():
            for i, raw in enumerate(read_shard(shards[shard_index])):
                if i in indices:
                    found[shard_index, i] = raw
        buffer.items = [found[item] for item in buffer.items]
        return epoch, buffer, position[0], position[1]

    def to_sample(self, raw: dict, epoch: int) -> dict:
        """A raw sample as the pipeline's input: image bytes and one sentence.

        Args:
            raw: the sample as read from the shard.
            epoch: its epoch (seeds the sentence draw).

        Returns:
            ``dict(img_path, img_bytes, text, sent_id, ref_id, image_id)``;
            ``img_path``, ``sent_id``, ``ref_id`` and ``image_id`` are all
            ``'<shard file>/<key>'``.
        """
        name = f"{osp.basename(raw['__url__'])}/{raw['__key__']}"
        image = next((raw[k] for k in self.image_keys if k in raw), None)
        if image is None:
            raise ValueError(
                f"sample '{raw['__key__']}' of shard '{raw['__url__']}' has no image "
                f"({', '.join(self.image_keys)}); it has "
                f"{sorted(k for k in raw if not k.startswith('__'))}")
        texts = self._texts(raw)
        if not texts:
            raise ValueError(f"sample '{raw['__key__']}' of shard '{raw['__url__']}' has "
                             f"no text for text_source={self.text_source!r}")
        # A hash, not a generator: as deterministic, and a tenth of a sample's reading time
        text = texts[zlib.crc32(f'{self.seed}/{epoch}/{name}'.encode()) % len(texts)]
        return dict(img_path=name, img_bytes=image, text=text, sent_id=name, ref_id=name,
                    image_id=name)

    def _texts(self, raw: dict) -> List[str]:
        meta = json.loads(raw['json']) if 'json' in raw else {}
        if self.text_source == 'texts':
            return [t.strip() for t in meta.get('texts', []) if t.strip()]
        caption = raw['txt'].decode('utf-8') if 'txt' in raw else meta.get('caption')
        if caption is None and meta.get('texts'):
            caption = '\n'.join(meta['texts'])
        if not caption or not caption.strip():
            return []
        return [caption.strip()] if self.text_source == 'caption' \
            else split_sentences(caption)
