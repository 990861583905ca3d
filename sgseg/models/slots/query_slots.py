from typing import List, Optional

import torch
import torch.nn as nn

from sgseg.registry import SLOT_INITIALIZERS
from .base import BaseSlotInitializer


@SLOT_INITIALIZERS.register_module()
class QuerySlots(BaseSlotInitializer):
    """Query slots: K learned embeddings, the same for every image (no sampling).

    Args:
        num_slots: K.
        embed_dims: D.
    """

    def __init__(self, embed_dims: int, num_slots: int = 36):
        super().__init__()
        self.num_slots = num_slots
        self.group_size = num_slots
        self.embed_dims = embed_dims
        self.queries = nn.Parameter(torch.empty(num_slots, embed_dims))
        nn.init.xavier_uniform_(self.queries)

    def forward(self,
                batch_size: int,
                generators: Optional[List[torch.Generator]] = None) -> torch.Tensor:
        return self.queries[None].expand(batch_size, -1, -1)
