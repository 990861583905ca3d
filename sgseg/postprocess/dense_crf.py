from typing import Any, Optional

import cv2
import numpy as np
import torch

from sgseg.registry import POSTPROCESSORS


def import_densecrf():
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as err:
        raise ImportError('DenseCRF post-processing needs pydensecrf: '
                          '`pip install pydensecrf2` (or `pip install sgseg[crf]`, or run '
                          'tools/install.sh); it imports as pydensecrf.densecrf') from err
    return dcrf


def crf_settings(cfg: Optional[Any]) -> dict:
    """The post-processor a config asks for when DenseCRF is turned on (``tools/test.py
    --crf``, the inferencer's and the web demo's switch): its top-level ``dense_crf``
    (settings suited to its images), else ``DenseCRF`` with its defaults.

    Args:
        cfg: an mmengine Config (or a dict), or None.

    Returns:
        dict: a ``POSTPROCESSORS`` config.
    """
    settings = None if cfg is None else cfg.get('dense_crf')
    if settings is None:
        return dict(type='DenseCRF')
    if not isinstance(settings, dict) or 'type' not in settings:
        raise ValueError('the config key dense_crf must be a post-processor config such as '
                         f"dict(type='DenseCRF', bilateral_srgb=30), got {settings!r}")
    return dict(settings)


def refine_score(crf, image: np.ndarray, score: torch.Tensor) -> torch.Tensor:
    """``crf`` (a post-processor) applied to a score map (H0, W0) on the original RGB
    image (H0, W0, 3), returned as a tensor of the score's dtype and device."""
    return torch.from_numpy(crf(image, score.detach().cpu().numpy())).to(score)


@POSTPROCESSORS.register_module()
class DenseCRF:
    """Fully connected CRF refinement of a foreground score map (paper appendix D).

    The unary is ``-log`` of (1 - p, p) for background and foreground; the pairwise
    terms are a Gaussian (smoothness) and a bilateral (appearance) kernel over the RGB
    image, with the defaults of common weakly supervised segmentation practice
    (Gaussian sxy=3, compat=3; bilateral sxy=80, srgb=13, compat=10; 10 iterations).

    Args:
        num_iters: mean-field iterations.
        gaussian_sxy: spatial std of the smoothness kernel (pixels).
        gaussian_compat: weight of the smoothness kernel.
        bilateral_sxy: spatial std of the appearance kernel (pixels).
        bilateral_srgb: colour std of the appearance kernel.
        bilateral_compat: weight of the appearance kernel.
        eps: probabilities are clipped to [eps, 1 - eps] before the log.
        max_side: refine at a resolution whose longer side is at most this (the
            spatial stds scaled with it, as in common practice), then resize the
            result back; None refines at full resolution. Mean-field cost grows with
            the pixel count, and the score maps come from a coarse patch grid anyway.
    """

    def __init__(self,
                 num_iters: int = 10,
                 gaussian_sxy: float = 3.,
                 gaussian_compat: float = 3.,
                 bilateral_sxy: float = 80.,
                 bilateral_srgb: float = 13.,
                 bilateral_compat: float = 10.,
                 eps: float = 1e-5,
                 max_side: Optional[int] = 320):
        self.dcrf = import_densecrf()
        self.num_iters = num_iters
        self.gaussian_sxy = gaussian_sxy
        self.gaussian_compat = gaussian_compat
        self.bilateral_sxy = bilateral_sxy
        self.bilateral_srgb = bilateral_srgb
        self.bilateral_compat = bilateral_compat
        self.eps = eps
        self.max_side = max_side

    def __call__(self, image: np.ndarray, score: np.ndarray) -> np.ndarray:
        """
        Args:
            image: (H, W, 3) uint8 RGB image at the score map's size.
            score: (H, W) foreground probability in [0, 1].

        Returns:
            np.ndarray: (H, W) float32 refined foreground probability.
        """
        if image.shape[:2] != score.shape:
            raise ValueError(f'DenseCRF: image {image.shape[:2]} and score map '
                             f'{score.shape} differ in size')
        H, W = score.shape
        factor = 1.
        if self.max_side is not None and max(H, W) > self.max_side:
            factor = self.max_side / max(H, W)
            size = (max(1, round(W * factor)), max(1, round(H * factor)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            score = cv2.resize(score.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        h, w = score.shape
        fg = np.clip(score.astype(np.float32), self.eps, 1 - self.eps)
        unary = -np.log(np.stack([1 - fg, fg]).reshape(2, -1))
        crf = self.dcrf.DenseCRF2D(w, h, 2)
        crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
        crf.addPairwiseGaussian(sxy=self.gaussian_sxy * factor, compat=self.gaussian_compat)
        crf.addPairwiseBilateral(sxy=self.bilateral_sxy * factor, srgb=self.bilateral_srgb,
                                 rgbim=np.ascontiguousarray(image, dtype=np.uint8),
                                 compat=self.bilateral_compat)
        q = np.array(crf.inference(self.num_iters), dtype=np.float32).reshape(2, h, w)[1]
        if factor != 1.:
            q = cv2.resize(q, (W, H), interpolation=cv2.INTER_LINEAR)
        return q
