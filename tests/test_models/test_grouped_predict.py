"""Images with several sentences: one encoding per image, one prediction per sentence,
slot draws seeded per image."""
import pytest
import torch
from mmseg.structures import SegDataSample

from sgseg.models.segmentors.shatter_and_gather import image_key, slot_generators
from .tiny import SENTENCES, build_tiny, make_batch


def grouped_batch(order=(0, 1), reverse_sentences=False):
    """Two images (ids 10 and 11) with 3 and 2 sentences, as a grouped dataset packs them."""
    base = make_batch(2, with_gt=True, image_ids=[10, 11])
    inputs, samples = [], []
    for i in order:
        image = base['data_samples'][i]
        sentences = []
        for k in range(3 - i):
            ds = image.clone()
            ds.set_metainfo(dict(text=SENTENCES[(i + k) % len(SENTENCES)], sent_id=10 * i + k))
            sentences.append(ds)
        packed = SegDataSample(metainfo=dict(image_id=image.image_id, img_path=image.img_path))
        packed.expressions = sentences[::-1] if reverse_sentences else sentences
        inputs.append(base['inputs'][i])
        samples.append(packed)
    return dict(inputs=inputs, data_samples=samples)


def predict(model, batch):
    data = model.data_preprocessor(batch, training=False)
    with torch.no_grad():
        return {ds.sent_id: ds for ds in model(**data, mode='predict')}, data


def test_each_image_is_encoded_once_and_each_sentence_predicted():
    model = build_tiny().eval()
    seen = []
    model.backbone.register_forward_hook(lambda m, a, o: seen.append(a[0].shape[0]))
    out, data = predict(model, grouped_batch())
    assert seen == [2]
    assert data['inputs']['owner'].tolist() == [0, 0, 0, 1, 1]
    assert data['inputs']['input_ids'].shape[0] == 5 and sorted(out) == [0, 1, 2, 10, 11]
    for sent_id, ds in out.items():
        assert ds.seg_logits.data.shape == ds.gt_sem_seg.data.shape == (1, 30, 45)
    # the sentences of an image share its entities; their relevance differs
    assert torch.equal(out[0].attn_slot, out[2].attn_slot)
    assert not torch.equal(out[0].attn_slot, out[10].attn_slot)
    assert not torch.equal(out[0].attn_fuse, out[1].attn_fuse)


@pytest.mark.parametrize('test_cfg', [dict(), dict(inference_scheme='min'),
                                      dict(num_slot_samples=2)])
def test_grouped_predictions_equal_per_sentence_ones(test_cfg):
    model = build_tiny(**{f'test_cfg.{k}': v for k, v in test_cfg.items()}).eval()
    grouped, _ = predict(model, grouped_batch())
    batch = grouped_batch()
    flat = dict(inputs=[img for img, s in zip(batch['inputs'], batch['data_samples'])
                        for _ in s.expressions],
                data_samples=[e for s in batch['data_samples'] for e in s.expressions])
    alone, data = predict(model, flat)
    assert 'owner' not in data['inputs'] and sorted(alone) == sorted(grouped)
    for sent_id, ds in grouped.items():
        torch.testing.assert_close(alone[sent_id].seg_logits.data, ds.seg_logits.data,
                                   rtol=0, atol=1e-5)


def test_the_draw_of_an_image_does_not_depend_on_order_or_batch():
    model = build_tiny().eval()
    reference, _ = predict(model, grouped_batch())
    swapped, _ = predict(model, grouped_batch(order=(1, 0), reverse_sentences=True))
    for sent_id, ds in reference.items():
        torch.testing.assert_close(swapped[sent_id].seg_logits.data, ds.seg_logits.data,
                                   rtol=0, atol=1e-5)
        torch.testing.assert_close(swapped[sent_id].attn_slot, ds.attn_slot, rtol=0,
                                   atol=1e-5)
    # the generators themselves: image 11 draws the same noise first, second or alone
    samples = [SegDataSample(metainfo=dict(image_id=i)) for i in (11, 10, 10, 11)]
    draws = model.image_generators(samples, torch.tensor([0, 1, 1, 0]), 2)(0)
    alone = model.image_generators(samples[3:], torch.tensor([0]), 1)(0)
    assert torch.equal(torch.randn(8, generator=draws[0]), torch.randn(8, generator=alone[0]))
    assert not torch.equal(torch.randn(8, generator=slot_generators(0, ['image_id 10'])[0]),
                           torch.randn(8, generator=slot_generators(1, ['image_id 10'])[0]))


def test_image_key_prefers_the_id_then_the_file_name():
    assert image_key(dict(image_id=7, img_path='/a/b.jpg')) == 'image_id 7'
    assert image_key(dict(img_path='/data/x/b.jpg')) == image_key(dict(img_path='/y/b.jpg'))
    with pytest.raises(KeyError, match='neither image_id nor img_path'):
        image_key(dict(text='a'))


def test_sentences_without_owner_must_match_the_images():
    model = build_tiny().eval()
    data = model.data_preprocessor(make_batch(2), training=False)
    data['inputs']['imgs'] = data['inputs']['imgs'][:1]
    with pytest.raises(ValueError, match=r"2 sentences for 1 images: give inputs\['owner'\]"):
        model(**data, mode='tensor')
