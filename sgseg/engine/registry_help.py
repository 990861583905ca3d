"""Config-wide check of ``type`` names, with close names for a typo.

mmengine reports an unknown type as ``KeyError: 'X is not in the sgseg::model
registry'`` at the moment it builds that part, without the config key or what the
user may have meant. :func:`check_config_types` (called by
:func:`sgseg.utils.load_tool_config`, i.e. by every tool before the Runner is
built) looks at every ``type`` string of the config at once and names the key and
the closest registered names.
"""
import difflib
from typing import Iterator, List, Set, Tuple

from mmengine.registry import Registry

import sgseg.registry as sgseg_registry

# ``type`` keys that select a mode rather than a registered class.
NOT_REGISTRY_TYPES = {'clip_grad': {'norm', 'value'}}


def registered_names() -> Set[str]:
    """Every name registered in sgseg's registries and their mmseg/mmengine parents."""
    names: Set[str] = set()
    for obj in vars(sgseg_registry).values():
        registry = obj
        while isinstance(registry, Registry):
            names.update(registry.module_dict)
            registry = registry.parent
    return names


def close_names(name: str, names: Set[str], limit: int = 5) -> List[str]:
    """The registered names closest to ``name`` (case-insensitive), best first."""
    lower = {n.lower(): n for n in names}
    hits = difflib.get_close_matches(name.lower(), list(lower), n=limit, cutoff=0.6)
    return [lower[h] for h in hits]


def _type_entries(node, path: str = '') -> Iterator[Tuple[str, str, str]]:
    """(key path, parent key, type name) for every string ``type`` in a config tree."""
    if isinstance(node, dict):
        value = node.get('type')
        if isinstance(value, str):
            yield f'{path}.type' if path else 'type', path.rsplit('.', 1)[-1], value
        for key, child in node.items():
            yield from _type_entries(child, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, child in enumerate(node):
            yield from _type_entries(child, f'{path}[{i}]')


def check_config_types(cfg) -> None:
    """Raise a ``KeyError`` naming the key and close names for an unknown ``type``.

    Args:
        cfg: a loaded config (``custom_imports`` already imported, as
            ``Config.fromfile`` does) with sgseg's modules registered.

    Raises:
        KeyError: e.g. ``model.entity_discovery.slot_initializer.type = 'EntitySlot'
            is not a registered type; close names: ['EntitySlots', ...]``.
    """
    names = registered_names()
    for key, parent, value in _type_entries(cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg):
        if value in NOT_REGISTRY_TYPES.get(parent, ()):
            continue
        bare = value.split('.')[-1]  # 'mmseg.Foo' names a type in another scope
        if bare in names:
            continue
        close = close_names(bare, names)
        raise KeyError(
            f'config key {key} = {value!r} is not a registered type; close names: '
            f'{close or "none"} (a plugin must be imported with custom_imports)')
