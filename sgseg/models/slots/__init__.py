from .base import BaseSlotInitializer
from .entity_slots import EntitySlots
from .query_slots import QuerySlots
from .random_slots import RandomSlots

__all__ = ['BaseSlotInitializer', 'EntitySlots', 'RandomSlots', 'QuerySlots']
