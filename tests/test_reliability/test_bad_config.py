"""Config and environment mistakes: each fails before any work, saying what to change."""
import re
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config, DictAction

from sgseg.apis import configure_test
from sgseg.engine import check_config_types, check_config_values
from sgseg.registry import MODELS, SLOT_INITIALIZERS
from sgseg.utils import load_tool_config, register_all_modules
from tests.test_models.tiny import build_tiny

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def registered():
    register_all_modules()


def test_num_slots_must_match_gaussians_times_slots():
    with pytest.raises(ValueError, match=r'num_slots \(36\) must equal num_gaussians \(18\) \* '
                                         r'slots_per_gaussian \(3\)'):
        SLOT_INITIALIZERS.build(dict(type='EntitySlots', embed_dims=8, num_gaussians=18,
                                     slots_per_gaussian=3, num_slots=36))


def test_unknown_type_names_the_key_and_close_names(tmp_path):
    config = tmp_path / 'typo.py'
    config.write_text(f"_base_ = ['{ROOT}/configs/sg_vittiny_synthetic.py']\n"
                      "model = dict(entity_discovery=dict(slot_initializer=dict("
                      "type='EntitySlot')))\n")
    with pytest.raises(KeyError, match=r"model.entity_discovery.slot_initializer.type = "
                                       r"'EntitySlot' is not a registered type; close names: "
                                       r"\['EntitySlots'"):
        load_tool_config(str(config))


def test_unknown_type_in_a_list_is_found():
    cfg = Config(dict(train_pipeline=[dict(type='LoadRefImage'), dict(type='Resise')]))
    with pytest.raises(KeyError, match=r"train_pipeline\[1\].type = 'Resise' .*'Resize'"):
        check_config_types(cfg)


@pytest.mark.parametrize('config', sorted(str(p.relative_to(ROOT)) for p in
                                          (ROOT / 'configs').rglob('*.py')
                                          if '_base_' not in p.parts))
def test_every_shipped_config_passes_the_type_check(config):
    cfg = Config.fromfile(ROOT / config)
    check_config_types(cfg)
    check_config_values(cfg)


def test_text_encoder_folder_missing_says_where_to_put_it():
    with pytest.raises(FileNotFoundError, match=r"text_encoder.path: '/no/bert' does not exist. "
                                                'Give an existing local path'):
        MODELS.build(dict(type='HFTextEncoder', path='/no/bert'))


def test_text_encoder_package_missing_says_how_to_install():
    with pytest.raises(FileNotFoundError, match=r"package 'no_such_bert_pkg' is not installed; "
                                                'install it with `pip install no-such-bert-pkg`'):
        MODELS.build(dict(type='HFTextEncoder', path='pkg://no_such_bert_pkg'))


def test_pretrained_vit_path_missing():
    with pytest.raises(FileNotFoundError, match=r"backbone.pretrained: '/no/vit.pth' does not "
                                                'exist'):
        MODELS.build(dict(type='TimmViT', model_name='vit_tiny_patch16_224', img_size=32,
                          pretrained='/no/vit.pth'))


def test_unknown_timm_name_lists_close_names():
    with pytest.raises(KeyError, match=r"'vit_smal_patch16_384' is not a timm model; close names"):
        MODELS.build(dict(type='TimmViT', model_name='vit_smal_patch16_384'))


def _test_cfg(tmp_path):
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict={}), ckpt)
    cfg = Config(dict(model=dict(test_cfg=dict(seed=0)), default_hooks=dict(),
                      test_evaluator=dict(type='RefSegMetric')))
    return cfg, str(ckpt)


def test_crf_without_pydensecrf_fails_before_evaluating(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'pydensecrf', None)
    monkeypatch.setitem(sys.modules, 'pydensecrf.densecrf', None)
    cfg, ckpt = _test_cfg(tmp_path)
    with pytest.raises(ImportError, match=r'DenseCRF post-processing needs pydensecrf: '
                                          '`pip install pydensecrf2`'):
        configure_test(cfg, ckpt, crf=True)


def test_crf_on_takes_the_config_s_dense_crf_settings(tmp_path):
    pytest.importorskip('pydensecrf.densecrf')
    cfg, ckpt = _test_cfg(tmp_path)
    assert configure_test(cfg, ckpt, crf=True).model.test_cfg.crf == dict(type='DenseCRF')
    cfg, ckpt = _test_cfg(tmp_path)
    configure_test(cfg, ckpt)
    assert cfg.model.test_cfg.get('crf') is None
    cfg.dense_crf = dict(type='DenseCRF', bilateral_srgb=30.)
    configure_test(cfg, ckpt, crf=True)
    assert cfg.model.test_cfg.crf == dict(type='DenseCRF', bilateral_srgb=30.)


def test_show_dir_not_writable(tmp_path):
    cfg, ckpt = _test_cfg(tmp_path)
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    with pytest.raises(PermissionError, match=r"--show-dir: cannot create '.*a_file/overlays'"):
        configure_test(cfg, ckpt, show_dir=str(blocker / 'overlays'))


def test_missing_checkpoint_for_test(tmp_path):
    cfg, _ = _test_cfg(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"checkpoint '.*none.pth' does not exist"):
        configure_test(cfg, str(tmp_path / 'none.pth'))


def test_bad_inference_scheme():
    with pytest.raises(ValueError, match=r"test_cfg.inference_scheme must be one of "
                                         r"\['fuse', 'avg', 'max', 'min'\], got 'mean'"):
        build_tiny(**{'test_cfg': dict(inference_scheme='mean')})


SYNTHETIC = str(ROOT / 'configs/sg_vittiny_synthetic.py')


@pytest.mark.parametrize('option, message', [
    (dict(model=dict(test_cfg=dict(treshold=0.9))),
     r"config key model.test_cfg.treshold is not a known option; did you mean 'threshold'\?"),
    (dict(model=dict(test_cfg=dict(inference_schem='max'))),
     r"model.test_cfg.inference_schem is not a known option; did you mean 'inference_scheme'"),
    (dict(model=dict(train_cfg=dict(gather_negative=True))),
     r"model.train_cfg.gather_negative is not a known option; did you mean 'gather_negatives'"),
    (dict(model=dict(entity_discovery=dict(num_iter=3))),
     r"config key model.entity_discovery.num_iter is not an argument of EntityDiscovery; did "
     r"you mean 'num_iters'\?"),
])
def test_misspelt_key_is_refused_with_the_closest_key(option, message):
    with pytest.raises(ValueError, match=message):
        load_tool_config(SYNTHETIC, cfg_options=option)


@pytest.mark.parametrize('option, kind', [
    ('model.entity_discovery.num_iters=abc', 'an int'), ('train_cfg.max_iters=abc', 'an int'),
    ('model.test_cfg.threshold=abc', 'a number'), ('model.test_cfg.num_slot_samples=1.5', 'an int'),
    ('train_dataloader.batch_size=abc', 'an int or None'),
    ('optim_wrapper.optimizer.lr=abc', 'a number or a tensor')])
def test_wrong_typed_value_is_refused_naming_the_key(option, kind):
    key, value = option.split('=')
    parsed = DictAction._parse_iterable(value)  # as --cfg-options parses it
    with pytest.raises(ValueError, match=rf'config key {re.escape(key)} must be {kind}, got '
                                         rf'{re.escape(repr(parsed))}$'):
        load_tool_config(SYNTHETIC, cfg_options={key: parsed})


def test_right_values_from_the_command_line_pass():
    cfg = load_tool_config(SYNTHETIC, cfg_options={
        'model.test_cfg.threshold': DictAction._parse_iterable('0.4'),
        'model.entity_discovery.num_iters': DictAction._parse_iterable('2'),
        'model.train_cfg.gather_negatives': DictAction._parse_iterable('True')})
    assert cfg.model.test_cfg.threshold == 0.4 and cfg.model.entity_discovery.num_iters == 2


def test_configure_test_adds_the_checkpoint_check_once(tmp_path):
    cfg, ckpt = _test_cfg(tmp_path)
    configure_test(cfg, ckpt)
    configure_test(cfg, ckpt)
    assert [h['type'] for h in cfg.custom_hooks] == ['CheckpointMatchHook', 'TestProgressHook']
