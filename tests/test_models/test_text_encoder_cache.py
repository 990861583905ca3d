"""The text-feature cache: a sentence's cached features do not depend on its batch."""
import torch

from sgseg.registry import MODELS
from sgseg.utils import register_all_modules

BERT = dict(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32)


def batch(sentences, length):
    """Right-padded (B, length) ids and mask; [CLS] = 1 first."""
    ids = torch.zeros(len(sentences), length, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, tokens in enumerate(sentences):
        ids[i, :len(tokens)] = torch.tensor(tokens)
        mask[i, :len(tokens)] = 1
    return ids, mask


def test_cached_features_are_the_same_whatever_the_batch():
    register_all_modules()
    torch.manual_seed(0)
    encoder = MODELS.build(dict(type='HFTextEncoder', config=BERT, frozen=True,
                                cache_features=True))
    gen = torch.Generator().manual_seed(1)
    sentences = [[1] + torch.randint(2, 100, (n, ), generator=gen).tolist()
                 for n in (3, 9, 5, 12, 7, 4)]
    # first met in one batch of 6, padded to 16 ...
    feats_a, _ = encoder(*batch(sentences, 16))
    cache_a = dict(encoder._cache)
    # ... or in batches of 2 and 4, padded to 13 and 24
    encoder._cache.clear()
    encoder(*batch(sentences[4:], 13))
    encoder(*batch(sentences[:4], 24))
    assert cache_a.keys() == encoder._cache.keys()
    for key, value in cache_a.items():
        assert torch.equal(value, encoder._cache[key])
    # the cache answers a later batch with those very features
    feats_b, mask = encoder(*batch(sentences, 16))
    assert torch.equal(feats_a, feats_b) and feats_a.shape == (6, 16, 16)
    assert (feats_b[mask == 0] == 0).all()
