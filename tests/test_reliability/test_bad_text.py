"""Sentences: empty and blank ones fail naming the sample; long ones are truncated and
logged once; non-ASCII and emoji go through."""
import logging

import pytest
import torch
from mmengine.logging import MMLogger

from tests.test_models.tiny import build_tiny, make_batch


@pytest.fixture(scope='module')
def model():
    return build_tiny().eval()


def batch_with(texts):
    batch = make_batch(len(texts))
    for ds, text in zip(batch['data_samples'], texts):
        ds.set_metainfo(dict(text=text))
    return batch


@pytest.mark.parametrize('text', ['', '   \t\n '])
def test_empty_or_blank_sentence_names_the_sample(model, text):
    with pytest.raises(ValueError, match=r"sample sent_id=1 \(img1.jpg\): the sentence is empty"):
        model.data_preprocessor(batch_with(['a red square', text]))


class Records(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_600_token_sentence_is_truncated_and_logged_once(model):
    long = ' '.join(['square'] * 600)
    handler = Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        model.data_preprocessor._warned_truncation = False
        for _ in range(2):
            data = model.data_preprocessor(batch_with([long, 'a circle']))
            assert data['inputs']['input_ids'].shape[1] == model.data_preprocessor.max_length
    finally:
        logger.removeHandler(handler)
    notes = [m for m in handler.messages if 'truncated' in m]
    assert len(notes) == 1 and 'sent_id=0' in notes[0] and 'max_length=16' in notes[0]
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'])
    assert torch.isfinite(out[0].seg_logits.data).all()


@pytest.mark.parametrize('text', ['der Bär links 🐻', '左边的人', 'café ☕ 👍🏽'])
def test_non_ascii_and_emoji_sentences_predict(model, text):
    data = model.data_preprocessor(batch_with([text, 'the blue circle']))
    ids = data['inputs']['input_ids'][0]
    assert int(data['inputs']['attention_mask'][0].sum()) > 2  # more than [CLS] [SEP]
    assert ids.max() < model.text_encoder.encoder.config.vocab_size
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'])
    assert torch.isfinite(out[0].seg_logits.data).all()
