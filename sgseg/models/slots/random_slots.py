from sgseg.registry import SLOT_INITIALIZERS
from .entity_slots import EntitySlots


@SLOT_INITIALIZERS.register_module()
class RandomSlots(EntitySlots):
    """Random slots (Slot Attention): all K slots drawn from one learned Gaussian.

    The interaction block then attends over all K slots together.

    Args:
        embed_dims: D.
        num_slots: K.
    """

    def __init__(self, embed_dims: int, num_slots: int = 36):
        super().__init__(embed_dims, num_gaussians=1, slots_per_gaussian=num_slots)
