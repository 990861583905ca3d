from .curves import plot_grouped_curves, plot_loss_curves, read_scalars
from .overlay import (draw_entities, draw_mask_overlay, draw_patch_maps, draw_prediction,
                      heatmap, label_overlay, patch_maps, stack_rows, weight_bar)

__all__ = ['draw_mask_overlay', 'draw_entities', 'draw_prediction', 'stack_rows', 'heatmap',
           'plot_grouped_curves', 'plot_loss_curves', 'read_scalars', 'weight_bar',
           'draw_patch_maps', 'patch_maps', 'label_overlay']
