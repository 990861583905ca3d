"""Config keys and values checked at start-up, against what the code declares.

Two declarations are read, so nothing is listed twice:

- the constructor signature of every registered class a config dict names by
  ``type``: a key that is not an argument (for classes without ``**kwargs``) is
  refused with the closest argument names, and a value of the wrong type (for
  arguments annotated with ``int``, ``float``, ``bool``, ``str``, their ``Optional``
  or a ``Union`` of them) is refused naming the key;
- option dicts that a class reads key by key (``model.test_cfg``,
  ``model.train_cfg``) are declared by the class in ``OPTION_SCHEMAS``:
  ``{'test_cfg': {'threshold': float, 'inference_scheme': ('fuse', 'avg'), ...}}``,
  a type, a tuple of types, or a tuple of allowed strings.

mmengine would otherwise ignore a misspelt option (``test_cfg.treshold=0.9``), or fail
hours later with ``'<' not supported between 'str' and 'int'`` for a ``--cfg-options``
value that did not parse as a number (``num_iters=abc``).
"""
import inspect
import sys
import typing
from typing import Any, Dict, Iterator, Optional, Tuple

from mmengine.registry import Registry
from torch.utils.data import DataLoader

import sgseg.registry as sgseg_registry
from sgseg.utils.options import ConfigValueError, accepted_types, check_options, describe, fits
from .registry_help import close_names

def _classes_by_name() -> Dict[str, set]:
    found: Dict[str, set] = {}
    for obj in vars(sgseg_registry).values():
        registry = obj
        while isinstance(registry, Registry):
            for name, cls in registry.module_dict.items():
                found.setdefault(name, set()).add(cls)
            registry = registry.parent
    return found


# Keys that mmengine's builders take out of a dict before calling its class.
_BUILDER_KEYS = {'_scope_', 'convert_to_iter_based', 'epoch_length', 'constructor',
                 'paramwise_cfg', 'num_batch_per_epoch', 'disable_subprocess_warning',
                 'worker_init_fn'}

# Top-level dicts built without a ``type`` (mmengine's Runner builds these itself).
_UNTYPED_ROOTS = dict(train_dataloader=DataLoader, val_dataloader=DataLoader,
                      test_dataloader=DataLoader)


def _typed_dicts(node, path: str = '') -> Iterator[Tuple[str, dict]]:
    """(key path, dict) for every dict of the config that names a ``type``."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield path, node
        for key, child in node.items():
            yield from _typed_dicts(child, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, child in enumerate(node):
            yield from _typed_dicts(child, f'{path}[{i}]')


def _resolve(annotation, cls):
    """An annotation as an object (a string one evaluated in its module), or None."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, vars(sys.modules[cls.__module__]))  # noqa: S307
    except Exception:  # noqa: BLE001
        return None


def _signature(cls) -> Optional[Tuple[Dict[str, Any], bool]]:
    """(argument -> annotation, takes **kwargs) of ``cls.__init__``, or None."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return None
    try:
        hints = typing.get_type_hints(cls.__init__ if inspect.isclass(cls) else cls)
    except Exception:  # noqa: BLE001 - an unresolvable forward reference somewhere
        # resolve the annotations one by one; those that do not resolve are skipped
        hints = {name: _resolve(p.annotation, cls) for name, p in params.items()
                 if p.annotation is not p.empty}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {name: hints.get(name) for name, p in params.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named, var_kw


def check_config_values(cfg) -> None:
    """Refuse unknown keys and wrong-typed values at start-up (see the module doc).

    Args:
        cfg: a loaded config, sgseg's modules registered.

    Raises:
        ConfigValueError: the first problem, naming its config key.
    """
    classes = _classes_by_name()
    tree = cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg
    untyped = [(key, dict(tree[key], type=cls)) for key, cls in _UNTYPED_ROOTS.items()
               if isinstance(tree.get(key), dict) and 'type' not in tree[key]]
    for path, node in untyped + list(_typed_dicts(tree)):
        found = {node['type']} if isinstance(node['type'], type) else \
            classes.get(node['type'].split('.')[-1], set())
        if len(found) != 1:
            continue  # unknown (check_config_types reports it) or ambiguous
        cls = next(iter(found))
        signature = _signature(cls)
        if signature is None:
            continue
        named, var_kw = signature
        for key, value in node.items():
            if key == 'type' or key in _BUILDER_KEYS:
                continue
            where = f'{path}.{key}' if path else key
            if key not in named:
                if not var_kw:
                    close = close_names(str(key), set(named), limit=1)
                    hint = f'; did you mean {close[0]!r}?' if close else ''
                    raise ConfigValueError(f'config key {where} is not an argument of '
                                           f'{cls.__name__}{hint}')
                continue
            schema = getattr(cls, 'OPTION_SCHEMAS', {}).get(key)
            if schema is not None and isinstance(value, dict):
                check_options(value, schema, where)
            accepted = accepted_types(named[key])
            if accepted is not None and not fits(value, accepted):
                raise ConfigValueError(f'config key {where} must be {describe(accepted)}, '
                                       f'got {value!r}')
