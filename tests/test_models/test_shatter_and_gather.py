import pytest
import torch

from .tiny import IMG, build_tiny, make_batch


def run_loss(model, batch):
    data = model.data_preprocessor(batch, training=True)
    return model(**data, mode='loss')


def test_loss_reads_no_ground_truth_and_reaches_every_parameter():
    model = build_tiny()
    batch = make_batch(4, with_gt=False)
    assert all('gt_sem_seg' not in ds for ds in batch['data_samples'])
    losses = run_loss(model, batch)
    assert set(losses) == {'loss_c3', 'loss_recon'}
    sum(losses.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and
               (p.grad is None or not torch.any(p.grad != 0))]
    assert missing == []


def test_without_recon_loss_the_decoder_is_absent():
    model = build_tiny(recon_loss=None)
    assert set(run_loss(model, make_batch(2))) == {'loss_c3'}


def test_recon_with_no_entity_discovery_is_a_config_error():
    with pytest.raises(ValueError, match='set recon_loss=None'):
        build_tiny(entity_discovery=None)


def test_without_entity_discovery_patches_are_entities():
    model = build_tiny(entity_discovery=None, recon_loss=None).eval()
    data = model.data_preprocessor(make_batch(2), training=False)
    out = model(**data, mode='predict')
    n = (IMG // 8)**2
    assert out[0].attn_slot.shape == (n, n) and out[0].attn_fuse.shape == (n, )


@pytest.mark.parametrize('scheme', ['fuse', 'avg', 'max', 'min'])
def test_predict_returns_original_size_maps(scheme):
    model = build_tiny(**{'test_cfg.inference_scheme': scheme}).eval()
    data = model.data_preprocessor(make_batch(3, ori_shape=(30, 45)), training=False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    for ds in out:
        score, mask = ds.seg_logits.data, ds.pred_sem_seg.data
        assert score.shape == (1, 30, 45) and mask.shape == (1, 30, 45)
        assert score.min() == 0 and torch.isclose(score.max(), torch.tensor(1.))
        assert torch.equal(mask, (score >= 0.5).to(torch.uint8))
        assert torch.allclose(ds.attn_slot.sum(-1), torch.ones(16), atol=1e-5)
        assert torch.isclose(ds.attn_fuse.sum(), torch.tensor(1.), atol=1e-5)


def test_max_and_min_schemes_pick_extreme_entities():
    model = build_tiny()
    attn_slot = torch.softmax(torch.randn(2, 16, 6), -1)
    attn_fuse = torch.softmax(torch.randn(2, 6), -1)
    top = attn_fuse.argmax(-1)
    low = attn_fuse.argmin(-1)
    assert torch.equal(model.combine(attn_slot, attn_fuse, 'max'),
                       attn_slot[torch.arange(2), :, top])
    assert torch.equal(model.combine(attn_slot, attn_fuse, 'min'),
                       attn_slot[torch.arange(2), :, low])
    assert torch.allclose(model.combine(attn_slot, attn_fuse, 'avg'), attn_slot.mean(-1))


def test_seeded_predictions_repeat_and_do_not_depend_on_batching():
    model = build_tiny().eval()
    batch = make_batch(4)
    data = model.data_preprocessor(batch, training=False)
    with torch.no_grad():
        first = [ds.seg_logits.data.clone() for ds in model(**data, mode='predict')]
        again = [ds.seg_logits.data.clone() for ds in model(**data, mode='predict')]
        half = model.data_preprocessor(dict(inputs=batch['inputs'][2:],
                                            data_samples=batch['data_samples'][2:]), False)
        alone = [ds.seg_logits.data for ds in model(**half, mode='predict')]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert torch.allclose(first[2], alone[0], atol=1e-5)
    model.test_cfg['seed'] = 1
    with torch.no_grad():
        other = [ds.seg_logits.data for ds in model(**data, mode='predict')]
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_unseeded_slots_differ_between_forwards():
    model = build_tiny(**{'test_cfg.seed': None}).eval()
    data = model.data_preprocessor(make_batch(2), training=False)
    with torch.no_grad():
        a = model(**data, mode='tensor')
        b = model(**data, mode='tensor')
    assert a.shape == (2, 4, 4) and not torch.equal(a, b)


def test_slot_ensembling_averages_draws():
    model = build_tiny(**{'test_cfg.num_slot_samples': 3}).eval()
    data = model.data_preprocessor(make_batch(2), training=False)
    with torch.no_grad():
        averaged = model(**data, mode='tensor')
        model.test_cfg['num_slot_samples'] = 1
        single = model(**data, mode='tensor')
    assert averaged.shape == single.shape and not torch.allclose(averaged, single)


def test_bad_inference_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match='inference_scheme must be one of'):
        build_tiny(**{'test_cfg.inference_scheme': 'median'})


def test_empty_sentence_names_the_sample():
    model = build_tiny()
    batch = make_batch(2)
    batch['data_samples'][1].set_metainfo(dict(text='   '))
    with pytest.raises(ValueError, match='sent_id=1'):
        model.data_preprocessor(batch, training=True)


def test_loss_scale_multiplies_losses():
    model = build_tiny(recon_loss=None)
    torch.manual_seed(0)
    full = run_loss(model, make_batch(2))['loss_c3']
    model.loss_scale = 0.25
    torch.manual_seed(0)
    assert torch.allclose(run_loss(model, make_batch(2))['loss_c3'], 0.25 * full)


def test_pooled_contrastive_ablation_trains_and_predicts():
    model = build_tiny(fusion_head=None, c3_loss=None, itc_loss=dict(type='PooledContrastiveLoss'))
    losses = run_loss(model, make_batch(4))
    assert set(losses) == {'loss_itc', 'loss_recon'}
    sum(losses.values()).backward()
    assert model.itc_loss.log_temperature.grad is not None
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(make_batch(2), False), mode='predict')
    assert torch.isclose(out[0].attn_fuse.sum(), torch.tensor(1.), atol=1e-5)


def test_fusion_and_loss_must_agree():
    with pytest.raises(ValueError, match='give fusion_head and c3_loss'):
        build_tiny(c3_loss=None)


def test_mean_text_pooling_ignores_padding():
    model = build_tiny(text_pooling='mean').eval()
    short = model.data_preprocessor.tokenize(['a red square'], ['s'])
    padded = model.data_preprocessor.tokenize(['a red square', 'a much longer sentence here'],
                                              ['s', 't'])
    with torch.no_grad():
        alone = model.encode_text(short)
        batched = model.encode_text(padded)
    assert torch.allclose(alone[0], batched[0], atol=1e-5)
    with pytest.raises(ValueError, match="text_pooling must be 'cls' or 'mean'"):
        build_tiny(text_pooling='max')
