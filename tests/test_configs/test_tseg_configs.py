"""The embedded TSEG config, loaded as tools/train.py loads it, trains 3 iterations
through the Runner and evaluates once, on a tiny refer-format dataset; its model is the
config's own (2-layer ViT, frozen MiniLM). (Every config's model, the RefCOCO recipe's
included, is built, trained one step and run by tests/test_configs/test_all_configs.py.)
"""
import pytest
import torch
from mmengine.runner import Runner

from sgseg.utils import load_tool_config, prepare_train_config, register_all_modules
from tests.fixtures import write_refer_dataset
from tests.test_configs.test_recipe_smoke import ROOT

ITERS, BATCH = 3, 2


@pytest.fixture(scope='module')
def refer(tmp_path_factory):
    return write_refer_dataset(tmp_path_factory.mktemp('refer'))


def test_embedded_tseg_config_trains_and_evaluates(refer, tmp_path):
    options = {'default_hooks.checkpoint': None, 'default_hooks.logger.interval': 1,
               'default_hooks.visualization.draw': False,
               'train_dataloader.batch_size': BATCH, 'train_cfg.max_iters': ITERS,
               'train_cfg.val_interval': ITERS + 1}
    for loader in ('train_dataloader', 'val_dataloader'):
        options.update({f'{loader}.num_workers': 0, f'{loader}.persistent_workers': False,
                        f'{loader}.dataset.data_root': refer['data_root'],
                        f'{loader}.dataset.ann_file': 'refs(unc).p',
                        f'{loader}.dataset.data_prefix': dict(img_path='train2014')})
    register_all_modules(init_default_scope=False)
    cfg = load_tool_config(str(ROOT / 'configs' / 'tseg_vittiny_synthetic.py'), 'none', options,
                           str(tmp_path / 'work'))
    prepare_train_config(cfg, 'none', False, options)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner = Runner.from_cfg(cfg)
        assert type(runner.model).__name__ == 'TSEG'
        before = {n: p.detach().clone() for n, p in runner.model.named_parameters()
                  if p.requires_grad}
        runner.train()
        assert runner.iter == ITERS
        moved = [n for n, p in runner.model.named_parameters()
                 if p.requires_grad and not torch.equal(p.detach(), before[n])]
        assert {'patch_loss.bias', 'patch_loss.log_scale', 'vis_proj.weight',
                'text_proj.weight'} <= set(moved)
        metrics = runner.val()
    finally:
        torch.set_num_threads(threads)
    for key in ('mIoU', 'cIoU', 'Acc@0.5', 'PointM'):
        assert 0 <= metrics[key] <= 100, (key, metrics)
