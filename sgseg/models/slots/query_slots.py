from typing import List, Optional

import torch
import torch.nn as nn

from sgseg.registry import SLOT_INITIALIZERS
from .base import BaseSlotInitializer, check_init_style


@SLOT_INITIALIZERS.register_module()
class QuerySlots(BaseSlotInitializer):
    """Query slots: K learned embeddings, the same for every image (no sampling).

    Args:
        num_slots: K.
        embed_dims: D.
        init_style: ``'sgseg'`` initialises the embeddings Xavier-uniform;
            ``'authors'`` draws them from a standard normal, as the authors' code does.
    """

    def __init__(self, embed_dims: int, num_slots: int = 36, init_style: str = 'sgseg'):
        super().__init__()
        check_init_style(init_style, type(self).__name__)
        self.init_style = init_style
        self.num_slots = num_slots
        self.group_size = num_slots
        self.embed_dims = embed_dims
        self.queries = nn.Parameter(torch.empty(num_slots, embed_dims))
        if init_style == 'sgseg':
            nn.init.xavier_uniform_(self.queries)
        else:
            nn.init.normal_(self.queries)

    def forward(self,
                batch_size: int,
                generators: Optional[List[torch.Generator]] = None) -> torch.Tensor:
        return self.queries[None].expand(batch_size, -1, -1)
