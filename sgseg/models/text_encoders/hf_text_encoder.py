import contextlib
import glob
import hashlib
import io
import os.path as osp
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from transformers import AutoModel, BertConfig

from sgseg.engine.atomic_io import atomic_write_bytes
from sgseg.registry import MODELS
from sgseg.utils import resolve_model_path


@MODELS.register_module()
class HFTextEncoder(nn.Module):
    """A Hugging Face BERT-like encoder returning all token features.

    Tokenisation lives in the data preprocessor (with the tokenizer of the same
    folder); this module takes ids and the attention mask.

    Args:
        path: a local Hugging Face folder, ``pkg://<module>``, or a hub id
            (``'bert-base-uncased'``) fetched into the Hugging Face cache on first use
            (see :func:`sgseg.utils.resolve_model_path`); loaded with
            ``AutoModel.from_pretrained``.
        config: instead of ``path``, a ``BertConfig`` dict for a randomly initialised
            encoder (tests, training from scratch).
        frozen: freeze the encoder and keep it in eval mode.
        train_top_layers: with ``frozen``, train the top N transformer layers of a BERT
            encoder (0, the default: none); the embeddings and the layers below stay
            frozen, and with ``cache_features`` it is their output that is cached, so
            only the top layers run at each step. The encoder stays in eval mode (no
            dropout in the trained layers either). The paper trains the whole text
            encoder; this keeps most of a small model's pretrained language and the
            cost of a cached encoder.
        cache_features: with ``frozen``, remember the features of each distinct token
            sequence, so a sentence is encoded once per run. A sentence's cached
            features are bitwise the same whatever batch it first came in, so a
            resumed run, which refills the cache from other batches, and a
            multi-process evaluation see the same features as an uninterrupted
            single-process run (in a padded batch they are not: the padding length
            and the batch size change the order of floating-point sums, by about
            1e-7). See ``pack_uncached`` for how.
        pack_uncached: with ``cache_features``, a BERT encoder and the CPU, encode the
            uncached sentences of a batch together, unpadded: their tokens are
            stacked into one (T, C) matrix for every linear layer, layer norm and
            activation (T >= :attr:`MIN_PACKED_TOKENS`, topped up with zero rows),
            and attention runs on the sentences of each length as a batch, on one
            thread. A matrix product of at least 16 rows gives each row the same
            bits whatever the other rows on one CPU thread (fewer rows take another
            kernel, and two threads split the sums differently); everything else
            works per token or per sentence; so a sentence's features do not depend
            on the others. This is checked once per process on a probe
            (:meth:`packing_is_exact`); where it fails, or with False, or off the
            CPU, or for another architecture, an uncached sentence is encoded
            alone (one encoder call per distinct sentence, 2-3x slower).
        disk_cache: with ``cache_features``, a folder (``~`` expanded) that also keeps
            the features across runs, under ``<disk_cache>/<key>/``, the key a hash
            of the encoder's config and weights, the way sentences are encoded
            (packed or alone) and the torch version: a later run of the same encoder
            (``tools/test.py`` after training, another seed, the inferencer) starts
            warm with the very same bits. Read at the first forward (weights
            loaded by then); each call that encodes new sentences adds one file,
            written atomically. A file that does not load or whose checksum does not
            match is ignored with a warning. None (default): in memory only.
    """

    #: fewest rows in the matrix products of one packed call
    MIN_PACKED_TOKENS = 64
    #: most sentences in one packed call
    MAX_PACKED_SENTENCES = 256

    def __init__(self,
                 path: Optional[str] = None,
                 config: Optional[dict] = None,
                 frozen: bool = False,
                 train_top_layers: int = 0,
                 cache_features: bool = False,
                 pack_uncached: bool = True,
                 disk_cache: Optional[str] = None):
        super().__init__()
        if (path is None) == (config is None):
            raise ValueError('text_encoder needs exactly one of `path` (a Hugging Face '
                             'folder or hub id) or `config` (a BertConfig dict)')
        if path is not None:
            folder = resolve_model_path(path, 'text_encoder.path')
            self.encoder = AutoModel.from_pretrained(folder)
        else:
            self.encoder = AutoModel.from_config(BertConfig(**config))
        # Only token features are used: a pooler would be a layer no loss reaches.
        if getattr(self.encoder, 'pooler', None) is not None:
            self.encoder.pooler = None
        self.embed_dims = self.encoder.config.hidden_size
        self.frozen = frozen
        self.cache_features = cache_features and frozen
        self.pack_uncached = pack_uncached
        self._cache: Dict[bytes, torch.Tensor] = {}
        self._packing_exact: Optional[bool] = None
        self.disk_cache = disk_cache if self.cache_features else None
        self._disk_folder: Optional[str] = None
        num_layers = self.encoder.config.num_hidden_layers
        if train_top_layers and (not frozen or self.encoder.config.model_type != 'bert'
                                 or not 0 < train_top_layers <= num_layers):
            raise ValueError(
                f'text_encoder.train_top_layers={train_top_layers}: needs frozen=True, a '
                f'BERT encoder ({self.encoder.config.model_type} here) and 0 to its '
                f'{num_layers} layers')
        #: layers below this index are frozen (and cached); the rest are trained
        self.frozen_depth = num_layers - train_top_layers
        if frozen:
            self.encoder.requires_grad_(False)
            self.encoder.eval()
            for layer in self.encoder.encoder.layer[self.frozen_depth:]:
                layer.requires_grad_(True)

    def train(self, mode: bool = True) -> 'HFTextEncoder':
        """A frozen encoder stays in eval mode; its modules are not walked again.

        (The training loop calls ``model.train()`` every iteration.)
        """
        if not self.frozen:
            return super().train(mode)
        self.training = mode
        for child in self.children():
            if child is not self.encoder:
                child.train(mode)
        if any(m.training for m in self.encoder.modules()):
            self.encoder.eval()
        return self

    @property
    def num_trained_layers(self) -> int:
        return self.encoder.config.num_hidden_layers - self.frozen_depth

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Runs the encoder: (B, L) ids and mask -> (B, L, C) features."""
        if not self.num_trained_layers:
            return self.encoder(input_ids=input_ids,
                                attention_mask=attention_mask).last_hidden_state
        with torch.no_grad():
            lower = self.encode_lower(input_ids, attention_mask)
        return self.run_top(lower, attention_mask)

    def encode_lower(self, input_ids: torch.Tensor,
                     attention_mask: torch.Tensor) -> torch.Tensor:
        """The features the frozen part gives (the whole encoder's, without
        ``train_top_layers``): (B, L) ids and mask -> (B, L, C)."""
        if not self.num_trained_layers:
            return self.encode(input_ids, attention_mask)
        return self._run_layers(self.encoder.embeddings(input_ids=input_ids), attention_mask,
                                self.encoder.encoder.layer[:self.frozen_depth])

    def run_top(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The trained top layers on the frozen part's (B, L, C) features."""
        return self._run_layers(x, attention_mask,
                                self.encoder.encoder.layer[self.frozen_depth:])

    @staticmethod
    def _run_layers(x: torch.Tensor, attention_mask: torch.Tensor,
                    layers: nn.ModuleList) -> torch.Tensor:
        """BERT ``layers`` on (B, L, C) features (no dropout: the encoder stays in eval
        mode); padding (``attention_mask`` 0) is not attended to."""
        keep = attention_mask[:, None, None, :].bool()
        batch, length, _ = x.shape
        for layer in layers:
            attn = layer.attention.self
            shape = (batch, length, attn.num_attention_heads, attn.attention_head_size)
            q, k, v = (proj(x).view(shape).transpose(1, 2)
                       for proj in (attn.query, attn.key, attn.value))
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=keep,
                                                     scale=attn.scaling)
            x = layer.attention.output(context.transpose(1, 2).reshape(x.shape), x)
            x = layer.output(layer.intermediate(x), x)
        return x

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            input_ids: (B, L) token ids, [CLS] first.
            attention_mask: (B, L), 1 on real tokens.

        Returns:
            tuple: token features (B, L, C) and the attention mask (B, L).
        """
        if not self.cache_features:
            if self.frozen and not self.num_trained_layers:
                with torch.no_grad():
                    return self.encode(input_ids, attention_mask), attention_mask
            return self.encode(input_ids, attention_mask), attention_mask
        if self.disk_cache is not None and self._disk_folder is None:
            self._open_disk_cache(input_ids.device)
        lengths = attention_mask.sum(dim=1).tolist()
        keys = [ids[:n].cpu().numpy().tobytes() for ids, n in zip(input_ids, lengths)]
        missing = {}
        for i, key in enumerate(keys):
            if key not in self._cache and key not in missing:
                missing[key] = input_ids[i, :lengths[i]]
        if missing:
            new = self.encode_sentences(list(missing.values()), list(missing.keys()))
            self._cache.update(new)
            if self._disk_folder is not None:
                self._write_disk_cache(new)
        out = input_ids.new_zeros((*input_ids.shape, self.embed_dims), dtype=torch.float32)
        for i, key in enumerate(keys):
            out[i, :lengths[i]] = self._cache[key]
        if self.num_trained_layers:
            out = self.run_top(out, attention_mask)
        return out, attention_mask

    def encode_sentences(self, sentences: List[torch.Tensor],
                         keys: List[bytes]) -> Dict[bytes, torch.Tensor]:
        """Features of unpadded sentences, each bitwise independent of the others.

        Args:
            sentences: S token-id sequences, (L_s, ) each, [CLS] first.
            keys: S keys to return the features under.

        Returns:
            dict: key -> (L_s, C) features.
        """
        feats = {}
        with torch.no_grad():
            if not self._use_packing(sentences[0].device):
                for ids, key in zip(sentences, keys):
                    ids = ids[None]
                    feats[key] = self.encode_lower(ids, torch.ones_like(ids))[0].clone()
                return feats
            with _one_thread():
                for start in range(0, len(sentences), self.MAX_PACKED_SENTENCES):
                    chunk = slice(start, start + self.MAX_PACKED_SENTENCES)
                    for key, value in zip(keys[chunk], self._encode_packed(sentences[chunk])):
                        feats[key] = value
        return feats

    def _encode_packed(self, sentences: List[torch.Tensor]) -> List[torch.Tensor]:
        """S sentences (L_s, ) -> their (L_s, C) features, packed (see ``pack_uncached``)."""
        bert = self.encoder
        by_length = defaultdict(list)
        for i, ids in enumerate(sentences):
            by_length[len(ids)].append(i)
        groups = [(length, members) for length, members in by_length.items()]
        rows = [bert.embeddings(input_ids=torch.stack([sentences[i] for i in members]))
                .reshape(-1, self.embed_dims) for length, members in groups]
        num_tokens = sum(len(ids) for ids in sentences)
        pad = max(0, self.MIN_PACKED_TOKENS - num_tokens)
        if pad:
            rows.append(rows[0].new_zeros(pad, self.embed_dims))
        x = torch.cat(rows)
        for layer in bert.encoder.layer[:self.frozen_depth]:
            attn = layer.attention.self
            heads, head_dims = attn.num_attention_heads, attn.attention_head_size
            q, k, v = attn.query(x), attn.key(x), attn.value(x)
            context, offset = [], 0
            for length, members in groups:
                span = slice(offset, offset + len(members) * length)
                shape = (len(members), length, heads, head_dims)
                out = F.scaled_dot_product_attention(
                    q[span].view(shape).transpose(1, 2), k[span].view(shape).transpose(1, 2),
                    v[span].view(shape).transpose(1, 2), scale=attn.scaling)
                context.append(out.transpose(1, 2).reshape(-1, self.embed_dims))
                offset = span.stop
            if pad:
                context.append(x.new_zeros(pad, self.embed_dims))
            x = layer.attention.output(torch.cat(context), x)
            x = layer.output(layer.intermediate(x), x)
        feats: List[Optional[torch.Tensor]] = [None] * len(sentences)
        offset = 0
        for length, members in groups:
            for i in members:
                feats[i] = x[offset:offset + length].clone()
                offset += length
        return feats

    def disk_cache_key(self, device: torch.device) -> str:
        """The hash naming this encoder's folder in ``disk_cache`` (see the class)."""
        digest = hashlib.sha256()
        mode = 'packed' if self._use_packing(device) else 'alone'
        digest.update(f'{mode} {device.type} torch {torch.__version__}\n'.encode())
        digest.update(self.encoder.config.to_json_string().encode())
        trained = tuple(f'encoder.layer.{i}.'
                        for i in range(self.frozen_depth, self.encoder.config.num_hidden_layers))
        if trained:
            digest.update(f'the output of layer {self.frozen_depth}\n'.encode())
        for name, value in sorted(self.encoder.state_dict().items()):
            if name.startswith(trained):
                continue
            digest.update(name.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:24]

    def _open_disk_cache(self, device: torch.device) -> None:
        """Reads ``<disk_cache>/<key>/*.pt`` into the cache."""
        folder = osp.join(osp.expanduser(self.disk_cache), self.disk_cache_key(device))
        self._disk_folder = folder
        files = sorted(glob.glob(osp.join(folder, '*.pt')))
        read = ignored = 0
        for path in files:
            try:
                with open(path, 'rb') as f:
                    keys, feats = _unpack_features(f.read(), self.embed_dims)
            except Exception as error:  # any unreadable or altered file is skipped
                ignored += 1
                print_log(f'text feature cache: ignored {path}: {error}', 'current',
                          level=30)
                continue
            for key, value in zip(keys, feats):
                self._cache.setdefault(key, value.to(device))
            read += len(keys)
        print_log(f'text feature cache on disk: {folder}: {read} sentence features read '
                  f'from {len(files) - ignored} files' + (f', {ignored} ignored' if ignored
                                                         else ''), 'current')

    def _write_disk_cache(self, feats: Dict[bytes, torch.Tensor]) -> None:
        data = _pack_features(list(feats.keys()), [v.cpu() for v in feats.values()])
        name = hashlib.sha256(data).hexdigest()[:24]
        atomic_write_bytes(data, osp.join(self._disk_folder, f'{name}.pt'))

    def _use_packing(self, device: torch.device) -> bool:
        if (not self.pack_uncached or device.type != 'cpu'
                or self.encoder.config.model_type != 'bert'):
            return False
        if self._packing_exact is None:
            self._packing_exact = self.packing_is_exact()
            if not self._packing_exact:
                print_log('HFTextEncoder: on this CPU a sentence encoded packed with '
                          'others does not get the same bits as alone; uncached sentences '
                          'are encoded one at a time (slower, same guarantees)', 'current',
                          level=30)
        return self._packing_exact

    def packing_is_exact(self) -> bool:
        """Whether a sentence gets the same bits packed with any others, here.

        Probes (on one thread) each shape of the encoder's linear layers at row counts
        from 64 to 511 and row offsets, and the packed encoder on 14 sentences of 5
        and 13 tokens against some of them packed alone or in other company.
        """
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad(), _one_thread():
            shapes = {(m.weight.shape, m.bias is not None) for m in self.encoder.modules()
                      if isinstance(m, nn.Linear)}
            for (out_dims, in_dims), bias in shapes:
                weight = torch.randn(out_dims, in_dims, generator=gen) / in_dims**0.5
                bias = torch.randn(out_dims, generator=gen) if bias else None
                rows = torch.randn(512, in_dims, generator=gen)
                full = F.linear(rows, weight, bias)
                for start, num in ((0, 64), (7, 100), (100, 333), (1, 511)):
                    if not torch.equal(F.linear(rows[start:start + num], weight, bias),
                                       full[start:start + num]):
                        return False
            high = min(self.encoder.config.vocab_size, 1000)
            sentences = [torch.randint(1, high, (5 + 8 * (i % 2), ), generator=gen)
                         for i in range(14)]
            together = self._encode_packed(sentences)
            for company in ([0], [13], [12, 0, 3], [1, 2, 13]):
                apart = self._encode_packed([sentences[i] for i in company])
                if not all(torch.equal(together[i], f) for i, f in zip(company, apart)):
                    return False
        return True


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Runs the block on one torch CPU thread (restored after)."""
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads > 1:
            torch.set_num_threads(threads)


def _features_digest(keys: List[bytes], feats: List[torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key, value in zip(keys, feats):
        digest.update(len(key).to_bytes(8, 'little') + key)
        digest.update(value.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _pack_features(keys: List[bytes], feats: List[torch.Tensor]) -> bytes:
    """A disk-cache file: the token-id keys, the (L, C) features and their sha256."""
    buffer = io.BytesIO()
    torch.save(dict(keys=keys, feats=feats, sha256=_features_digest(keys, feats)), buffer)
    return buffer.getvalue()


def _unpack_features(data: bytes, embed_dims: int) -> Tuple[List[bytes], List[torch.Tensor]]:
    """Reads :func:`_pack_features`'s bytes; ValueError if they do not check out."""
    content = torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)
    keys, feats = content['keys'], content['feats']
    if len(keys) != len(feats) or _features_digest(keys, feats) != content['sha256']:
        raise ValueError('checksum mismatch')
    for key, value in zip(keys, feats):
        if value.dtype != torch.float32 or value.shape != (len(key) // 8, embed_dims):
            raise ValueError(f'a feature of shape {tuple(value.shape)} for '
                             f'{len(key) // 8} tokens')
    return keys, feats
