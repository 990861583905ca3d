"""Pictures people look at: a sentence's mask on its image, and the top-k entities
(ShatterAndGather) or a method's patch maps."""
from typing import Dict, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

PRED_COLOR = (255, 64, 32)  # RGB
GT_COLOR = (40, 230, 40)


def title_bar(image: np.ndarray, lines: Sequence[str], scale: float = 0.45) -> np.ndarray:
    """Stacks a white bar with ``lines`` of text above an RGB image."""
    width = max(image.shape[1], 160)
    if image.shape[1] < width:
        pad = np.full((image.shape[0], width - image.shape[1], 3), 255, np.uint8)
        image = np.concatenate([image, pad], axis=1)
    line_h = int(22 * scale / 0.45)
    bar = np.full((line_h * len(lines) + 6, width, 3), 255, np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(bar, text, (4, line_h * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, image], axis=0)


def wrap(text: str, width_px: int, scale: float = 0.45) -> list:
    """Splits a sentence into lines that fit ``width_px`` at the title font size."""
    chars = max(8, int(width_px / (9 * scale / 0.45)))
    words, lines, line = text.split(), [], ''
    for word in words:
        if len(line) + len(word) + 1 > chars and line:
            lines.append(line)
            line = word
        else:
            line = f'{line} {word}'.strip()
    return lines + [line] if line else lines or ['']


def draw_mask_overlay(image: np.ndarray,
                      pred_mask: np.ndarray,
                      gt_mask: Optional[np.ndarray] = None,
                      title: str = '',
                      alpha: float = 0.5) -> np.ndarray:
    """The predicted mask filled in one colour, the ground truth outlined in another.

    Args:
        image: (H, W, 3) uint8 RGB.
        pred_mask: (H, W) bool/uint8 prediction.
        gt_mask: (H, W) ground truth, or None.
        title: the sentence (and anything else) written above the image.
        alpha: opacity of the prediction.

    Returns:
        np.ndarray: (H', W', 3) uint8 RGB picture.
    """
    out = image.astype(np.float32).copy()
    pred = pred_mask.astype(bool)
    out[pred] = (1 - alpha) * out[pred] + alpha * np.array(PRED_COLOR, np.float32)
    out = out.astype(np.uint8)
    if gt_mask is not None:
        contours, _ = cv2.findContours(gt_mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        thickness = max(1, round(max(image.shape[:2]) / 200))
        cv2.drawContours(out, contours, -1, GT_COLOR, thickness)
    return title_bar(out, wrap(title, out.shape[1])) if title else out


def heatmap(image: np.ndarray, score: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """A score map in [0, 1] (any size) blended over an RGB image as a jet heat map."""
    score = cv2.resize(score.astype(np.float32), (image.shape[1], image.shape[0]),
                       interpolation=cv2.INTER_LINEAR)
    colored = cv2.applyColorMap(np.uint8(255 * np.clip(score, 0, 1)), cv2.COLORMAP_JET)
    colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    return ((1 - alpha) * image + alpha * colored).astype(np.uint8)


def weight_bar(width: int, weight: float, scale: float = 0.45) -> np.ndarray:
    """A horizontal bar filled to ``weight`` (in [0, 1]) of ``width``, the value at its end.

    Returns:
        np.ndarray: (h, width, 3) uint8 RGB strip.
    """
    line_h = int(22 * scale / 0.45)
    bar = np.full((line_h + 6, width, 3), 255, np.uint8)
    cv2.rectangle(bar, (3, 3), (width - 4, line_h + 2), (225, 225, 225), -1)
    fill = 3 + round((width - 7) * float(np.clip(weight, 0, 1)))
    if fill > 3:
        cv2.rectangle(bar, (3, 3), (fill, line_h + 2), PRED_COLOR, -1)
    cv2.putText(bar, f'{weight:.2f}', (6, line_h - 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def draw_entities(image: np.ndarray,
                  attn_slot: np.ndarray,
                  attn_fuse: np.ndarray,
                  grid_size: Tuple[int, int],
                  topk: int = 3,
                  bars: bool = False) -> np.ndarray:
    """The paper's Fig. 5 view: the top-k entity maps ranked by A^fuse, with weights.

    Args:
        image: (H, W, 3) uint8 RGB.
        attn_slot: (N, K) A^slot.
        attn_fuse: (K,) A^fuse.
        grid_size: (h, w), h * w = N.
        topk: number of entities drawn (>= 0; at most K are drawn).
        bars: draw each entity's A^fuse weight as a bar under its map (the title then
            holds the rank and slot index only).

    Returns:
        np.ndarray: the k entity heat maps side by side, each titled with its rank,
        slot index and A^fuse weight.
    """
    if topk < 0:
        raise ValueError(f'topk (entity maps drawn) must be >= 0, got {topk}')
    order = np.argsort(-attn_fuse)[:topk]
    tiles = []
    for rank, k in enumerate(order):
        amap = attn_slot[:, k].reshape(grid_size)
        amap = (amap - amap.min()) / max(float(amap.max() - amap.min()), 1e-12)
        if bars:
            tile = title_bar(heatmap(image, amap), [f'#{rank + 1} slot {k}'])
            tile = np.concatenate([tile, weight_bar(tile.shape[1], attn_fuse[k])], axis=0)
        else:
            tile = title_bar(heatmap(image, amap), [f'#{rank + 1} slot {k}: {attn_fuse[k]:.2f}'])
        tiles.append(tile)
    return np.concatenate(tiles, axis=1)


def patch_maps(maps: Mapping[str, np.ndarray],
               grid_size: Optional[Tuple[int, int]]) -> Dict[str, np.ndarray]:
    """The maps of shape ``grid_size`` (a method's patch maps) among a prediction's
    intermediate maps, in order."""
    if grid_size is None:
        return {}
    return {name: m for name, m in maps.items() if tuple(m.shape) == tuple(grid_size)}


def label_colors(labels: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB colour of each integer label: hues spread by the golden ratio,
    so neighbouring labels differ and a label keeps its colour in every picture."""
    hue = (labels.astype(np.float64) * 0.618034) % 1.0
    hsv = np.stack([hue * 179, np.full_like(hue, 200), np.full_like(hue, 255)], axis=-1)
    return cv2.cvtColor(hsv.astype(np.uint8).reshape(-1, 1, 3),
                        cv2.COLOR_HSV2RGB).reshape(*labels.shape, 3)


def label_overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """An integer map (any size; e.g. each patch's group) blended over an RGB image, one
    colour per label, resized without interpolating labels."""
    labels = cv2.resize(labels.astype(np.int32), (image.shape[1], image.shape[0]),
                        interpolation=cv2.INTER_NEAREST)
    return ((1 - alpha) * image + alpha * label_colors(labels)).astype(np.uint8)


def draw_patch_maps(image: np.ndarray, maps: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each patch map (h, w) over the image, titled with its name; the tiles side by
    side. An integer map is a label map (a colour per label, :func:`label_overlay`);
    any other is min-max normalised and drawn as a heat map."""
    tiles = []
    for name, amap in maps.items():
        if np.issubdtype(amap.dtype, np.integer):
            tile = label_overlay(image, amap)
        else:
            amap = (amap - amap.min()) / max(float(amap.max() - amap.min()), 1e-12)
            tile = heatmap(image, amap)
        tiles.append(title_bar(tile, [name]))
    return np.concatenate(tiles, axis=1)


def draw_prediction(image: np.ndarray,
                    pred_mask: np.ndarray,
                    title: str = '',
                    gt_mask: Optional[np.ndarray] = None,
                    attn_slot: Optional[np.ndarray] = None,
                    attn_fuse: Optional[np.ndarray] = None,
                    grid_size: Optional[Tuple[int, int]] = None,
                    topk: int = 3,
                    maps: Optional[Mapping[str, np.ndarray]] = None) -> np.ndarray:
    """The mask overlay of one sentence, its top-k entity maps beside it
    (ShatterAndGather), or else its patch maps.

    Args:
        image: (H, W, 3) uint8 RGB.
        pred_mask: (H, W) prediction.
        title: the sentence, written above the whole row.
        gt_mask: (H, W) ground truth, or None.
        attn_slot: (N, K) A^slot, or None for the overlay alone.
        attn_fuse: (K,) A^fuse.
        grid_size: (h, w) patch grid.
        topk: entity maps drawn (0 for none, and for no patch map either).
        maps: named patch maps (h, w) drawn as heat maps when there is no A^slot
            (see :func:`patch_maps`).

    Returns:
        np.ndarray: one RGB row, every panel at the image's scale.
    """
    if attn_slot is not None and topk:
        panels = draw_entities(image, attn_slot, attn_fuse, grid_size, topk)
    elif attn_slot is None and topk and maps:
        panels = draw_patch_maps(image, maps)
    else:
        return draw_mask_overlay(image, pred_mask, gt_mask, title)
    # a one-line caption, as each entity tile has, keeps all panels the same height
    overlay = title_bar(draw_mask_overlay(image, pred_mask, gt_mask), ['mask'])
    row = np.concatenate([overlay, panels], axis=1)
    return title_bar(row, wrap(title, row.shape[1])) if title else row


def stack_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """RGB pictures stacked top to bottom, right-padded in white to the widest."""
    width = max(row.shape[1] for row in rows)
    padded = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255)
              for row in rows]
    return np.concatenate(padded, axis=0)
