"""Sentences: non-strings, empty and blank ones fail at dataset build (and in the data
preprocessor) naming the sample; long ones are truncated and logged once; non-ASCII and
emoji go through."""
import logging
import pickle

import pytest
import torch
from mmengine.logging import MMLogger

from sgseg.datasets import ReferDataset, load_refs
from sgseg.datasets.validation import InvalidDataError
from tests.fixtures import write_refer_dataset
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


@pytest.mark.parametrize('text', [3, None, b'red box'])
def test_non_string_sentence_in_a_batch_is_named_as_such(model, text):
    with pytest.raises(TypeError, match=r'sample sent_id=1 \(img1.jpg\): the sentence is not '
                                        rf'a string \({type(text).__name__} '):
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


@pytest.mark.parametrize('text,problem', [
    (3, r'sentence is not a string \(int 3\)'),
    (None, r'sentence is not a string \(NoneType None\)'),
    (b'red box', r"sentence is not a string \(bytes b'red box'\)"),
    (' \t', r"sentence is empty or blank \(' \\t'\)"),
    ('caf\udce9', r"sentence is not valid Unicode \('caf\\udce9': surrogates not allowed\)"),
])
def test_bad_sentence_fails_at_dataset_build(tmp_path, text, problem):
    """Not at the batch that holds it, hours later: when the dataset is built."""
    refer = write_refer_dataset(tmp_path)
    refs = load_refs(refer['refs_unc'])
    refs[4]['sentences'][1]['sent'] = text  # ref 5, sent_id 9 (train)
    with open(refer['refs_unc'], 'wb') as f:
        pickle.dump(refs, f)
    for train_sample in ('sentence', 'ref'):
        with pytest.raises(InvalidDataError,
                           match=rf"'.*refs\(unc\).p': ref 5, sent_id 9: {problem}"):
            ReferDataset(data_root=refer['data_root'], split='train',
                         train_sample=train_sample)
    dataset = ReferDataset(data_root=refer['data_root'], split='train', on_invalid='skip')
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [d['sent_id'] for d in infos] == [1, 2, 8, 10]


def test_kept_token_ids_give_the_tokenizers_own_batch(model):
    """Token ids kept per sentence, padded per batch: the same tensors as tokenising the
    batch at once (long, short, repeated, non-ASCII sentences; after the kept ids were
    dropped too)."""
    pre = model.data_preprocessor
    batches = [['a red square', ' '.join(['square'] * 40), 'the circle left of the star'],
               ['a red square', 'café ☕ links', 'a red square', 'the big blue one'],
               ['the big blue one', 'x']]
    old_size = pre.token_cache_size
    try:
        for size in (old_size, 3):
            pre.token_cache_size = size
            pre._token_cache.clear()
            for texts in batches * 2:
                got = pre.tokenize(texts, [str(i) for i in range(len(texts))])
                want = pre.tokenizer(texts, padding=True, truncation=True,
                                     max_length=pre.max_length, return_tensors='pt')
                for key in ('input_ids', 'attention_mask'):
                    assert torch.equal(got[key], want[key]), (size, texts, key)
                assert len(pre._token_cache) <= max(size, len(set(texts)))
    finally:
        pre.token_cache_size = old_size
