from .slots import MixtureSlots

__all__ = ['MixtureSlots']
