from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from transformers import AutoModel, BertConfig

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
        cache_features: with ``frozen``, remember the features of each distinct token
            sequence, so a sentence is encoded once per run. A sentence missing from
            the cache is encoded alone, without padding: its cached features are then
            bitwise the same whatever batch it first came in (in a batch, the padding
            length and the batch size change the order of floating-point sums, by
            about 1e-7), so a resumed run, which refills the cache from other
            batches, and a multi-process evaluation see the same features as an
            uninterrupted single-process run. The price is one encoder call per
            distinct sentence, once per run.
    """

    def __init__(self,
                 path: Optional[str] = None,
                 config: Optional[dict] = None,
                 frozen: bool = False,
                 cache_features: bool = False):
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
        self._cache: Dict[bytes, torch.Tensor] = {}
        if frozen:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    def train(self, mode: bool = True) -> 'HFTextEncoder':
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Runs the encoder: (B, L) ids and mask -> (B, L, C) features."""
        return self.encoder(input_ids=input_ids,
                            attention_mask=attention_mask).last_hidden_state

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
            if self.frozen:
                with torch.no_grad():
                    return self.encode(input_ids, attention_mask), attention_mask
            return self.encode(input_ids, attention_mask), attention_mask
        lengths = attention_mask.sum(dim=1).tolist()
        keys = [ids[:n].cpu().numpy().tobytes() for ids, n in zip(input_ids, lengths)]
        with torch.no_grad():
            for i, key in enumerate(keys):
                if key not in self._cache:
                    n = lengths[i]
                    self._cache[key] = self.encode(input_ids[i:i + 1, :n],
                                                   attention_mask[i:i + 1, :n])[0].clone()
        out = input_ids.new_zeros((*input_ids.shape, self.embed_dims), dtype=torch.float32)
        for i, key in enumerate(keys):
            out[i, :lengths[i]] = self._cache[key]
        return out, attention_mask
