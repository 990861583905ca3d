from .nonfinite_guard import (NonFiniteGuardAmpOptimWrapper, NonFiniteGuardOptimWrapper,
                              NonFiniteLossError)

__all__ = ['NonFiniteGuardOptimWrapper', 'NonFiniteGuardAmpOptimWrapper', 'NonFiniteLossError']
