import ast
import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine import DefaultScope

import sgseg
from sgseg.registry import MODELS, SLOT_INITIALIZERS, TRANSFORMS
from sgseg.utils import register_all_modules


def test_every_subpackage_imports():
    names = [m.name for m in pkgutil.walk_packages(sgseg.__path__, 'sgseg.')]
    assert {'sgseg.models', 'sgseg.datasets', 'sgseg.evaluation', 'sgseg.engine'} <= set(names)
    for name in names:
        importlib.import_module(name)


def test_registries_have_scope_sgseg_and_mmseg_parents():
    assert MODELS.scope == 'sgseg' and SLOT_INITIALIZERS.scope == 'sgseg'
    assert MODELS.parent is not None and MODELS.parent.scope == 'mmseg'


def test_register_all_modules_sets_default_scope():
    register_all_modules()
    assert DefaultScope.get_current_instance().scope_name == 'sgseg'
    for name in ('ShatterAndGather', 'TimmViT', 'HFTextEncoder', 'EntityDiscovery',
                 'FusionHead', 'C3Loss', 'ReconstructionLoss', 'RefSegDataPreProcessor'):
        assert MODELS.get(name) is not None, name
    for name in ('EntitySlots', 'RandomSlots', 'QuerySlots'):
        assert SLOT_INITIALIZERS.get(name) is not None, name


def test_build_from_config_dict_through_sgseg_registry():
    register_all_modules()
    loss = MODELS.build(dict(type='C3Loss', temperature=0.5))
    assert type(loss).__module__.startswith('sgseg.') and loss.temperature == 0.5
    # a type only mmseg/mmcv registers is found through the parent registry
    assert type(TRANSFORMS.build(dict(type='LoadImageFromFile'))).__name__ == 'LoadImageFromFile'


def test_unknown_type_is_a_key_error():
    register_all_modules()
    with pytest.raises(KeyError, match='NoSuchLoss'):
        MODELS.build(dict(type='NoSuchLoss'))


# Packages below the API layer: they register components, and sgseg.apis builds on them.
LOWER_LAYERS = ('datasets', 'engine', 'evaluation', 'models', 'postprocess', 'utils',
                'visualization', 'registry.py')


def test_lower_layers_never_import_the_api_layer():
    root = Path(sgseg.__file__).parent
    offenders = []
    for layer in LOWER_LAYERS:
        files = [root / layer] if layer.endswith('.py') else sorted((root / layer).rglob('*.py'))
        for path in files:
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
                if any(n == 'sgseg.apis' or n.startswith('sgseg.apis.') for n in names):
                    offenders.append(f'{path.relative_to(root)}:{node.lineno}')
    assert not offenders, f'lower layers import sgseg.apis: {offenders}'


def test_registering_modules_does_not_import_the_api_layer():
    code = ('import sys\n'
            'from sgseg.utils import register_all_modules\n'
            'register_all_modules()\n'
            'from sgseg.registry import MODELS\n'
            'assert MODELS.get("ShatterAndGather") is not None\n'
            'print(sorted(m for m in sys.modules if m.startswith("sgseg.apis")))\n')
    env = dict(os.environ, PYTHONPATH=str(Path(sgseg.__file__).parents[1]))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == '[]', out.stdout
