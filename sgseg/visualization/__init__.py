from .curves import plot_loss_curves, read_scalars
from .overlay import draw_entities, draw_mask_overlay, heatmap

__all__ = ['draw_mask_overlay', 'draw_entities', 'heatmap', 'plot_loss_curves',
           'read_scalars']
