"""Option dicts checked against a declared schema (see :func:`check_options`)."""
import difflib
import types
import typing
from typing import Any, Dict, Optional, Tuple

import torch

_SIMPLE = (bool, int, float, str, type(None), torch.Tensor)
_TYPE_NAMES = {bool: 'a bool', int: 'an int', float: 'a number', str: 'a string',
               type(None): 'None', dict: 'a dict', torch.Tensor: 'a tensor'}


class ConfigValueError(ValueError):
    """A config key that is unknown or holds a value of the wrong type."""


def accepted_types(annotation) -> Optional[Tuple[type, ...]]:
    """The types an argument annotation allows, or None when it is not a simple one."""
    if annotation in _SIMPLE or annotation is dict:
        return (annotation, )
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        if all(m in _SIMPLE or m is dict for m in members):
            return members
    return None


def fits(value: Any, accepted) -> bool:
    """Whether ``value`` is of the ``accepted`` type(s) (an int is a float), or one of
    the allowed strings when ``accepted`` is a tuple of strings."""
    if isinstance(accepted, tuple) and accepted and all(isinstance(a, str) for a in accepted):
        return value in accepted  # a choice of strings
    types = accepted if isinstance(accepted, tuple) else (accepted, )
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def describe(accepted) -> str:
    """``accepted`` in words, for a message (``'an int'``, ``"one of ['fuse', ...]"``)."""
    if isinstance(accepted, tuple) and accepted and all(isinstance(a, str) for a in accepted):
        return f'one of {list(accepted)}'
    types = accepted if isinstance(accepted, tuple) else (accepted, )
    return ' or '.join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def check_options(options: dict, schema: Dict[str, Any], where: str) -> None:
    """Check an option dict against its declared schema.

    Args:
        options: e.g. the model's ``test_cfg``.
        schema: key -> type, tuple of types, or tuple of allowed strings.
        where: the config key of ``options``, for the message (``model.test_cfg``).

    Raises:
        ConfigValueError: naming the key and the closest valid key, or the key, its
            value and what it must be.
    """
    for key, value in options.items():
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1, cutoff=0.6)
            hint = f'did you mean {close[0]!r}? ' if close else ''
            raise ConfigValueError(f'config key {where}.{key} is not a known option; {hint}'
                                   f'valid keys: {sorted(schema)}')
        if not fits(value, schema[key]):
            raise ConfigValueError(f'config key {where}.{key} must be '
                                   f'{describe(schema[key])}, got {value!r}')
