"""Trivial predictions that a grounded model must beat on the same samples."""
import numpy as np

BASELINES = ('whole_image', 'centre_ellipse')


def baseline_score(name: str, height: int, width: int) -> np.ndarray:
    """A text-independent score map in [0, 1].

    Args:
        name: ``'whole_image'`` (every pixel 1) or ``'centre_ellipse'`` (1 inside the
            ellipse centred in the image with half the image's width and height as
            axes, 0 outside).
        height: H.
        width: W.

    Returns:
        np.ndarray: (H, W) float32.
    """
    if name == 'whole_image':
        return np.ones((height, width), np.float32)
    if name == 'centre_ellipse':
        yy, xx = np.mgrid[:height, :width]
        inside = ((yy + 0.5 - height / 2) / (height / 4))**2 + \
            ((xx + 0.5 - width / 2) / (width / 4))**2 <= 1
        return inside.astype(np.float32)
    raise KeyError(f'unknown baseline {name!r}; choose from {BASELINES}')
