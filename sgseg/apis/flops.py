"""FLOPs of each part of a SaG model, counted by mmengine's analyser.

Used by ``tools/analysis_tools/get_flops.py``. Counts follow mmengine's (fvcore's)
convention: one multiply-add is one FLOP. Each part is traced on its own with inputs of
the size it sees in the model, so the table shows where the cost of a prediction and of
a training step goes, relative to the ViT.
"""
import math
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config

from .benchmark import SENTENCE, build_benchmark_model


class _Call(nn.Module):
    """Wraps ``fn(*inputs)`` as a module so the analyser can trace it."""

    def __init__(self, owner: nn.Module, fn):
        super().__init__()
        self.owner = owner
        self.fn = fn

    def forward(self, *inputs):
        return self.fn(*inputs)


def _sdpa_flops(inputs, outputs) -> int:
    """``scaled_dot_product_attention``: Q K^T and the weighted sum of V."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = math.prod(q[:-2])
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def _count(owner: nn.Module, fn, *inputs) -> int:
    analyzer = FlopAnalyzer(_Call(owner, fn), inputs)
    analyzer.set_op_handle('aten::scaled_dot_product_attention', _sdpa_flops)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return int(analyzer.total())


def component_flops(cfg: Config, text_length: int = 0,
                    batch_size: int = 32) -> Dict[str, object]:
    """FLOPs per image, per sentence and per (image, sentence) pair.

    Args:
        cfg: A model config (weights are random; a missing text encoder folder is
            replaced as in :func:`build_benchmark_model`).
        text_length: tokens per sentence; 0 tokenises the benchmark's sentence.
        batch_size: B of a training step, whose C^3 fuses each image with B texts.

    Returns:
        dict: ``rows`` as (part, what it is counted per, FLOPs) and the ratios
        ``inference_ratio`` (one pair against the ViT) and ``train_forward_ratio``
        (the forward a training step runs per image, B fusions included, against the
        ViT's forward).
    """
    model = build_benchmark_model(cfg).eval()
    model.text_encoder.cache_features = False  # count the encoder, not a cache lookup
    size = cfg.model.backbone.get('img_size', 384)
    imgs = torch.zeros(1, 3, size, size)
    tokens = model.data_preprocessor.tokenize([SENTENCE], ['flops'])
    if text_length:
        tokens = {k: v[:, :1].repeat(1, text_length) for k, v in tokens.items()}
    with torch.no_grad():
        vis, grid = model.extract_feat(imgs)
        feats = model.vis_proj(vis)
        text = model.encode_text(tokens)
        entities, _ = model.discover(feats, grid)

    rows: List[Tuple[str, str, int]] = [
        ('backbone (ViT)', 'image', _count(model, lambda x: model.extract_feat(x)[0], imgs)),
        ('visual projection', 'image', _count(model, model.vis_proj, vis)),
        ('text encoder + projection', f'sentence ({tokens["input_ids"].shape[1]} tokens)',
         _count(model, lambda i, m: model.encode_text(dict(input_ids=i, attention_mask=m)),
                tokens['input_ids'], tokens['attention_mask'])),
    ]
    if model.entity_discovery is not None:
        rows.append(('entity discovery', 'image',
                     _count(model, lambda f: model.discover(f, grid)[0], feats)))
    rows.append(('fusion (A^fuse, z)', 'pair',
                 _count(model, lambda e, t: model.relevance(e, t), entities, text)))
    if model.recon_loss is not None:
        rows.append(('reconstruction decoder + loss', 'image (training only)',
                     _count(model, lambda e, v: model.recon_loss(e, v, grid), entities, vis)))
    flops = {name: n for name, _, n in rows}
    vit = flops['backbone (ViT)']
    per_pair = sum(n for name, _, n in rows if 'reconstruction' not in name)
    fusion = flops['fusion (A^fuse, z)']
    per_image_train = sum(n for _, _, n in rows) + (batch_size - 1) * fusion
    return dict(rows=rows, img_size=size, grid=list(grid), batch_size=batch_size,
                inference_ratio=per_pair / vit,
                train_forward_ratio=per_image_train / vit)


def format_flops(result: Dict[str, object]) -> str:
    """A markdown table of :func:`component_flops`."""
    vit = result['rows'][0][2]
    lines = ['| part | per | GFLOPs | × ViT |', '|---|---|---|---|']
    for name, per, n in result['rows']:
        lines.append(f'| {name} | {per} | {n / 1e9:.3f} | {n / vit:.3f} |')
    lines.append('')
    lines.append(f"inference per (image, sentence) pair: {result['inference_ratio']:.3f} × ViT")
    lines.append(f"training forward per image (B = {result['batch_size']}: one image, "
                 f"one sentence, {result['batch_size']} fusions): "
                 f"{result['train_forward_ratio']:.3f} × ViT")
    return '\n'.join(lines)
