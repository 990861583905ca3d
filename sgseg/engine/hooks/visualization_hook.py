import os
import os.path as osp
from typing import Optional, Sequence

import mmcv
import numpy as np
from mmengine.hooks import Hook

from sgseg.registry import HOOKS
from sgseg.visualization import draw_prediction, patch_maps


def sample_name(ds) -> str:
    meta = ds.metainfo
    if 'sent_id' in meta:
        return f"sent_{meta['sent_id']}"
    return osp.splitext(osp.basename(meta.get('img_path', 'sample')))[0]


def render_sample(ds, topk: int = 3) -> np.ndarray:
    """Overlay of a predicted data sample: mask + GT outline, then its top-k entities
    (ShatterAndGather) or the method's patch maps (``metainfo['map_names']``)."""
    image = mmcv.imread(ds.metainfo['img_path'], channel_order='rgb')
    pred = ds.pred_sem_seg.data[0].cpu().numpy()
    gt = ds.gt_sem_seg.data[0].cpu().numpy() if 'gt_sem_seg' in ds else None
    if 'attn_slot' in ds:
        panels = dict(attn_slot=ds.attn_slot.cpu().numpy(),
                        attn_fuse=ds.attn_fuse.cpu().numpy(),
                        grid_size=ds.metainfo['grid_size'])
    else:
        maps = {name: ds.get(name).cpu().numpy() for name in ds.metainfo.get('map_names', ())}
        panels = dict(maps=patch_maps(maps, ds.metainfo.get('grid_size')))
    return draw_prediction(image, pred, ds.metainfo.get('text', ''), gt, topk=topk, **panels)


@HOOKS.register_module()
class RefSegVisualizationHook(Hook):
    """Draws predictions: a few samples per validation, or every test sample.

    During validation the first ``max_samples`` sentences are drawn and handed to the
    runner's visualizer (its backends: local files, TensorBoard, ...). During testing,
    with ``show_dir``, every ``interval``-th sentence is written there as a PNG.

    Args:
        draw: draw at all.
        interval: draw every ``interval``-th test sample.
        max_samples: sentences drawn per validation.
        show_dir: folder for the test overlays.
        topk: entity maps drawn beside each overlay (0 for none).
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 1,
                 max_samples: int = 8,
                 show_dir: Optional[str] = None,
                 topk: int = 3):
        self.draw = draw
        self.interval = interval
        self.max_samples = max_samples
        self.show_dir = show_dir
        self.topk = topk
        self._seen = 0

    def before_val_epoch(self, runner) -> None:
        self._seen = 0

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        if not self.draw or outputs is None:
            return
        for ds in outputs:
            if self._seen >= self.max_samples:
                return
            self._seen += 1
            runner.visualizer.add_image(f'val_{self._seen}_{sample_name(ds)}',
                                        render_sample(ds, self.topk), step=runner.iter)

    def before_test_epoch(self, runner) -> None:
        self._seen = 0

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        if not self.draw or self.show_dir is None or outputs is None:
            return
        os.makedirs(self.show_dir, exist_ok=True)
        for ds in outputs:
            if self._seen % self.interval == 0:
                mmcv.imwrite(mmcv.rgb2bgr(render_sample(ds, self.topk)),
                             osp.join(self.show_dir, sample_name(ds) + '.png'))
            self._seen += 1
