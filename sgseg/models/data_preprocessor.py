from typing import Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model import ImgDataPreprocessor
from transformers import AutoTokenizer

from sgseg.registry import MODELS
from sgseg.utils import resolve_model_path


@MODELS.register_module()
class RefSegDataPreProcessor(ImgDataPreprocessor):
    """Normalises and stacks the images, and tokenises the batch's sentences.

    The sentence of each sample is ``data_sample.metainfo['text']``; each sample's
    metainfo gains ``batch_input_shape`` (the padded batch size). The model input
    becomes ``dict(imgs=(B, 3, H, W), input_ids=(B, L), attention_mask=(B, L))``, and
    for images with several sentences (evaluation grouped by image) ``input_ids`` /
    ``attention_mask`` are (P, L) for the P sentences and ``owner`` (P,) maps each
    to its image (see :meth:`forward`).

    Args:
        tokenizer: a Hugging Face tokenizer: local folder, ``pkg://<module>`` or hub
            id (usually the text encoder's own; see
            :func:`sgseg.utils.resolve_model_path`).
        max_length: sentences are truncated to this many tokens ([CLS] and [SEP]
            included); the log says so once per run.
        mean: per-channel mean (RGB after ``bgr_to_rgb``).
        std: per-channel std.
        bgr_to_rgb: images are loaded BGR (mmcv); the ViT expects RGB.
        pad_size_divisor: pad images to a multiple of this.
        token_cache_size: how many sentences' token ids are kept (see
            :meth:`token_ids`).
    """

    def __init__(self,
                 tokenizer: str,
                 max_length: int = 40,
                 mean: Sequence[float] = (127.5, 127.5, 127.5),
                 std: Sequence[float] = (127.5, 127.5, 127.5),
                 bgr_to_rgb: bool = True,
                 pad_size_divisor: int = 1,
                 non_blocking: Optional[bool] = False,
                 token_cache_size: int = 200_000):
        super().__init__(mean=mean, std=std, pad_size_divisor=pad_size_divisor,
                         bgr_to_rgb=bgr_to_rgb, non_blocking=non_blocking)
        self.tokenizer = AutoTokenizer.from_pretrained(
            resolve_model_path(tokenizer, 'data_preprocessor.tokenizer'))
        self.max_length = max_length
        self._warned_truncation = False
        self.token_cache_size = token_cache_size
        self._token_cache: dict = {}

    def cast_data(self, data):
        """Move the batch to the model's device; on the CPU it is already there.

        A data loader yields CPU tensors, so on the CPU the batch is not rebuilt sample
        by sample (mmengine calls ``.to`` on every data sample, which copies each one);
        only the outer dict is copied, so the caller's batch keeps its keys.
        """
        if self._device.type == 'cpu':
            return dict(data) if isinstance(data, dict) else data
        return super().cast_data(data)

    def token_ids(self, texts: Sequence[str]) -> list:
        """Token ids of each sentence, truncated to ``max_length``, not padded.

        Each distinct sentence is tokenised once and its ids kept (up to
        ``token_cache_size`` sentences; then the kept ids are dropped and it starts
        again): a training run sees every sentence once per epoch.
        """
        cache = self._token_cache
        distinct = list(dict.fromkeys(texts))
        missing = [t for t in distinct if t not in cache]
        if missing:
            if len(cache) + len(missing) > self.token_cache_size:
                cache.clear()
                missing = distinct
            encoded = self.tokenizer(missing, truncation=True, max_length=self.max_length,
                                     return_attention_mask=False)['input_ids']
            cache.update(zip(missing, encoded))
        return [cache[t] for t in texts]

    def tokenize(self, texts: Sequence[str], names: Sequence[str]) -> dict:
        """Tokenises sentences into padded ids and an attention mask.

        Args:
            texts: B sentences.
            names: B sample names for error messages.

        Returns:
            dict: ``input_ids`` and ``attention_mask``, (B, L) long tensors.
        """
        for text, name in zip(texts, names):
            if not isinstance(text, str):
                raise TypeError(f'sample {name}: the sentence is not a string '
                                f'({type(text).__name__} {text!r:.60})')
            if not text.strip():
                raise ValueError(f'sample {name}: the sentence is empty ({text!r})')
        tokens = self.tokenizer.pad({'input_ids': self.token_ids(list(texts))},
                                    padding=True, return_tensors='pt')
        if not self._warned_truncation and tokens['input_ids'].shape[1] == self.max_length:
            full = self.tokenizer(list(texts), add_special_tokens=True)['input_ids']
            long = [n for n, ids in zip(names, full) if len(ids) > self.max_length]
            if long:
                print_log(f'sentences longer than max_length={self.max_length} tokens are '
                          f'truncated (first: {long[0]}); this is logged once', 'current')
                self._warned_truncation = True
        return dict(input_ids=tokens['input_ids'], attention_mask=tokens['attention_mask'])

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise the images and tokenise every sentence of the batch.

        A data sample with ``expressions`` (evaluation grouped by image) is an image
        with several sentences: the returned ``data_samples`` are the sentences of all
        images in order, and ``inputs['owner']`` (P,) gives the index of each
        sentence's image in ``imgs``. Without any, ``owner`` is absent (one sentence
        per image).
        """
        data = super().forward(data, training)
        images = data['data_samples']
        grouped = any('expressions' in s for s in images)
        if grouped:
            samples, owner = [], []
            for i, image in enumerate(images):
                for s in (image.expressions if 'expressions' in image else [image]):
                    samples.append(s.to(data['inputs'].device))
                    owner.append(i)
            data['data_samples'] = samples
        else:
            samples = images
        texts = [s.metainfo.get('text') for s in samples]
        names = [f"sent_id={s.metainfo.get('sent_id')} ({s.metainfo.get('img_path')})"
                 for s in samples]
        tokens = {k: v.to(data['inputs'].device) for k, v in self.tokenize(texts, names).items()}
        for s in samples:
            s.set_metainfo(dict(batch_input_shape=tuple(data['inputs'].shape[-2:])))
        inputs = dict(imgs=data['inputs'], **tokens)
        if grouped:
            inputs['owner'] = torch.tensor(owner, device=data['inputs'].device)
        data['inputs'] = inputs
        return data
