import importlib
import pkgutil

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
