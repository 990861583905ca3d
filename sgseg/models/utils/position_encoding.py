import math

import torch


def sine_position_encoding(height: int,
                           width: int,
                           embed_dims: int,
                           temperature: float = 10000.,
                           device=None) -> torch.Tensor:
    """2-D sine position encoding (DETR style), normalised to [0, 2*pi] per axis.

    Half of the channels encode the row, half the column.

    Args:
        height: rows of the patch grid.
        width: columns of the patch grid.
        embed_dims: channels; must be divisible by 4.
        temperature: frequency base.
        device: device of the result.

    Returns:
        Tensor: (height * width, embed_dims), row-major like the ViT's patch tokens.
    """
    if embed_dims % 4:
        raise ValueError(f'embed_dims ({embed_dims}) must be divisible by 4 for a 2-D '
                         'sine position encoding')
    num_feats = embed_dims // 2
    eps = 1e-6
    y = torch.arange(1, height + 1, dtype=torch.float32, device=device)
    x = torch.arange(1, width + 1, dtype=torch.float32, device=device)
    y = y / (height + eps) * 2 * math.pi
    x = x / (width + eps) * 2 * math.pi
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=device)
    dim_t = temperature**(2 * (dim_t // 2) / num_feats)
    pos_y = y[:, None] / dim_t  # (H, F)
    pos_x = x[:, None] / dim_t  # (W, F)
    pos_y = torch.stack((pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()), dim=2).flatten(1)
    pos_x = torch.stack((pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()), dim=2).flatten(1)
    pos = torch.cat((pos_y[:, None, :].expand(height, width, num_feats),
                     pos_x[None, :, :].expand(height, width, num_feats)),
                    dim=2)
    return pos.reshape(height * width, embed_dims)
