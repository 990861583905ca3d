"""Every config of the toolbox builds and runs one training and one inference step.

Each config under configs/ (``_base_`` excepted) and projects/*/configs is loaded as a
user would, only its *size* keys are shrunk (tiny ViT and BERT, 32-dim heads), and
its model runs ``loss`` + backward and ``predict``. Everything an ablation changes
(slot types and counts, T, switches, losses) is kept, so a config that no longer
builds, or a component switch that no longer works, fails here.
"""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.utils import import_modules_from_strings

from sgseg.registry import MODELS
from sgseg.utils import register_all_modules
from tests.test_models.tiny import IMG, TOKENIZER, make_batch

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)
CONFIGS += sorted((ROOT / 'projects').glob('*/configs/**/*.py'))
TINY_BERT = dict(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                 num_attention_heads=2, intermediate_size=32)
PATCH = 8


def shrink(model: dict) -> dict:
    """The model config with only its size keys made tiny."""
    model = copy.deepcopy(model)
    model['embed_dims'] = 32
    model['data_preprocessor'].update(tokenizer=TOKENIZER, max_length=16)
    model['backbone'].update(model_name='vit_tiny_patch16_224', img_size=IMG, patch_size=PATCH,
                             embed_dim=24, num_heads=2, drop_path_rate=0., pretrained=False)
    if model['backbone']['type'] == 'GroupingViT':
        # group counts are kept, one block per stage
        model['backbone']['depths'] = [1] * len(model['backbone']['depths'])
        model['proj_hidden_dims'] = 32
    else:
        model['backbone']['depth'] = 1
    text = model['text_encoder']
    text.pop('path', None)
    text['config'] = TINY_BERT
    if model.get('entity_discovery'):
        # slot counts are kept: at most 60 slots over 16 patches costs nothing
        model['entity_discovery'].update(hidden_dims=32, num_heads=2, inter_num_heads=2,
                                         inter_head_dims=16)
    if model.get('fusion_head'):
        model['fusion_head'].update(num_heads=2, head_dims=16)
    if model.get('recon_loss'):
        model['recon_loss'].setdefault('decoder', {})['hidden_dims'] = 32
    return model


def num_entities(model: dict) -> int:
    """K: the slot count the config asks for, or N patches without entity discovery."""
    if not model.get('entity_discovery'):
        return (IMG // PATCH)**2
    slots = model['entity_discovery']['slot_initializer']
    if 'num_slots' in slots:
        return slots['num_slots']
    return slots['num_gaussians'] * slots['slots_per_gaussian']


@pytest.fixture(scope='module', autouse=True)
def registered_single_thread():
    # tiny ops are ~10x faster on one thread than split over a busy CPU's cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    register_all_modules()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_trains_and_predicts(path):
    cfg = Config.fromfile(str(path))
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    model_cfg = shrink(cfg.model.to_dict())
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)

    model.train()
    # two sentences of image 0, so C^3's same-image masking has something to mask
    data = model.data_preprocessor(make_batch(4, image_ids=[0, 0, 1, 2]), training=True)
    losses = model.loss(**data)
    total = sum(losses.values())
    assert torch.isfinite(total), f'{path.name}: non-finite loss {losses}'
    total.backward()
    # DDP without find_unused_parameters fails on a trainable parameter no loss
    # reaches; with it, every iteration pays for a graph traversal. The config must
    # set it exactly when needed.
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    wants = cfg.get('model_wrapper_cfg', {}).get('find_unused_parameters', False)
    assert bool(unused) == bool(wants), (
        f'{path.name}: unused parameters {unused[:5]} but model_wrapper_cfg '
        f'find_unused_parameters={wants}')

    model.eval()
    with torch.no_grad():
        out = model.predict(**model.data_preprocessor(make_batch(2, ori_shape=(30, 45)),
                                                      training=False))
    for ds in out:
        assert ds.pred_sem_seg.data.shape == (1, 30, 45)
        assert ds.metainfo['grid_size'] == (IMG // PATCH, IMG // PATCH)
        for name in ds.metainfo['map_names']:
            assert name in ds, f'{path.name}: map {name!r} listed but not attached'
    if model_cfg['type'] != 'ShatterAndGather':
        return
    K = num_entities(model_cfg)
    for ds in out:
        assert ds.attn_slot.shape == ((IMG // PATCH)**2, K)
        total = float(ds.attn_fuse.sum())
        if (model_cfg.get('fusion_head') or {}).get('null_entity'):
            assert 0 < total < 1  # the null entity takes the rest
        else:
            assert abs(total - 1) < 1e-5


def test_every_ablation_is_a_small_diff_of_a_recipe():
    """An ablation inherits a recipe (configs/<recipe>.py) and stays short."""
    ablations = sorted((ROOT / 'configs' / 'ablations').glob('*.py'))
    assert len(ablations) >= 25
    recipes = {p.stem for p in (ROOT / 'configs').glob('*.py')}
    for path in ablations:
        text = path.read_text()
        assert len(text.splitlines()) <= 15, f'{path.name} is longer than 15 lines'
        base = Config.fromfile(str(path)).filename  # loads
        assert base and "_base_ = ['../" in text, f'{path.name} must inherit a recipe'
        recipe = text.split("_base_ = ['../")[1].split('.py')[0]
        assert recipe in recipes and path.stem.startswith(recipe + '_'), path.name


def test_recipes_follow_the_paper():
    """K_g x K_s per dataset (Sec. 4.1) and zero-shot configs test on the target."""
    expected = {'refcoco': (18, 2), 'refcocoplus': (12, 3), 'refcocog-umd': (12, 3),
                'refcocog-google': (12, 3), 'phrasecut': (30, 2), 'refcoco_released': (12, 3)}
    for name, (kg, ks) in expected.items():
        slots = Config.fromfile(str(ROOT / 'configs' / f'sg_vits16_{name}.py')) \
            .model.entity_discovery.slot_initializer
        assert (slots.num_gaussians, slots.slots_per_gaussian) == (kg, ks), name
    for target, root, ann in (('refcoco', 'data/refcoco', 'refs(unc).p'),
                              ('refcocoplus', 'data/refcoco+', 'refs(unc).p'),
                              ('refcocog-google', 'data/refcocog', 'refs(google).p')):
        cfg = Config.fromfile(str(ROOT / 'configs' /
                                  f'sg_vits16_phrasecut_zeroshot-{target}.py'))
        test = cfg.test_dataloader.dataset
        assert (test.type, test.data_root, test.ann_file, test.split) == (
            'ReferDataset', root, ann, 'val')
        assert cfg.train_dataloader.dataset.type == 'PhraseCutDataset'
        assert cfg.model.entity_discovery.slot_initializer.num_gaussians == 30
