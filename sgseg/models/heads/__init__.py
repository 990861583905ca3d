from .entity_discovery import EntityDiscovery
from .fusion_head import FusionHead

__all__ = ['EntityDiscovery', 'FusionHead']
