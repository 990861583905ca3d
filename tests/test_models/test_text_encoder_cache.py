"""The text-feature cache: a sentence's cached features do not depend on its batch."""
import pytest
import torch

from sgseg.models.text_encoders import hf_text_encoder
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


def random_sentences(lengths, vocab, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(1, vocab, (n, ), generator=gen) for n in lengths]


def test_packed_sentences_get_the_bits_they_get_alone_and_match_the_hf_forward():
    register_all_modules()
    torch.manual_seed(0)
    encoder = MODELS.build(dict(type='HFTextEncoder', frozen=True, cache_features=True,
                                config=dict(vocab_size=300, hidden_size=64,
                                            num_hidden_layers=2, num_attention_heads=4,
                                            intermediate_size=128)))
    assert encoder.packing_is_exact()
    sentences = random_sentences([3, 17, 8, 8, 40, 3, 25, 8] * 5, 300)
    packed = encoder.encode_sentences(sentences, list(range(len(sentences))))
    for company in ([0], [4, 1], list(range(7, 40, 3))):
        apart = encoder.encode_sentences([sentences[i] for i in company], company)
        for i in company:
            assert torch.equal(apart[i], packed[i])
    with torch.no_grad():
        for i, ids in enumerate(sentences[:8]):
            hf = encoder.encode(ids[None], torch.ones_like(ids[None]))[0]
            torch.testing.assert_close(packed[i], hf, rtol=0, atol=1e-5)
    # two threads asked for: the packed call runs on one, so the bits stay the same
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        again = encoder.encode_sentences(sentences[:5], list(range(5)))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(again[i], packed[i]) for i in range(5))


def test_row_dependent_matrix_products_turn_packing_off(monkeypatch):
    register_all_modules()
    encoder = MODELS.build(dict(type='HFTextEncoder', config=BERT, frozen=True,
                                cache_features=True))
    linear = torch.nn.functional.linear

    def rows_matter(x, weight, bias=None):  # a BLAS whose rows depend on the row count
        return linear(x, weight, bias) + 1e-3 * (x.numel() // x.shape[-1] % 3)

    monkeypatch.setattr(torch.nn.functional, 'linear', rows_matter)
    sentences = [[1] + t.tolist() for t in random_sentences([3, 9, 5, 12], 100)]
    feats_a, _ = encoder(*batch(sentences, 14))
    assert encoder._packing_exact is False  # probed once, then one sentence per call
    encoder._cache.clear()
    encoder(*batch(sentences[2:], 13))
    feats_b, _ = encoder(*batch(sentences, 14))
    assert torch.equal(feats_a, feats_b)


def build_disk_cached(folder, seed=0):
    register_all_modules()
    torch.manual_seed(seed)
    return MODELS.build(dict(type='HFTextEncoder', config=BERT, frozen=True,
                             cache_features=True, disk_cache=str(folder)))


def test_disk_cache_gives_a_later_run_the_same_bits_and_is_keyed_by_the_weights(tmp_path):
    sentences = [[1] + t.tolist() for t in random_sentences([3, 9, 5, 12], 100)]
    first = build_disk_cached(tmp_path)
    feats_a, _ = first(*batch(sentences[:3], 12))
    first(*batch(sentences[3:], 14))
    assert len(list(tmp_path.glob('*/*.pt'))) == 2
    later = build_disk_cached(tmp_path)
    later.encode_sentences = None  # a later run encodes nothing: all read from disk
    feats_b, _ = later(*batch(sentences[:3], 12))
    assert torch.equal(feats_a, feats_b)
    assert later.disk_cache_key(torch.device('cpu')) == first.disk_cache_key(torch.device('cpu'))
    other = build_disk_cached(tmp_path)
    with torch.no_grad():
        other.encoder.encoder.layer[0].output.dense.weight[0, 0] += 1e-3
    assert other.disk_cache_key(torch.device('cpu')) != first.disk_cache_key(torch.device('cpu'))
    feats_c, _ = other(*batch(sentences[:3], 12))  # other weights: its own, empty folder
    assert not torch.equal(feats_a, feats_c)
    assert len(list(tmp_path.iterdir())) == 2


def test_a_corrupted_disk_cache_file_is_ignored_with_a_warning(tmp_path, monkeypatch):
    sentences = [[1] + t.tolist() for t in random_sentences([3, 9, 5, 12], 100)]
    first = build_disk_cached(tmp_path)
    feats_a, _ = first(*batch(sentences[:2], 10))
    first(*batch(sentences[2:], 14))
    files = sorted(tmp_path.glob('*/*.pt'), key=lambda p: p.stat().st_mtime)
    files[0].write_bytes(files[0].read_bytes()[:-40])  # cut short
    data = bytearray(files[1].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    files[1].write_bytes(bytes(data))
    later = build_disk_cached(tmp_path)
    logged = []
    monkeypatch.setattr(hf_text_encoder, 'print_log',
                        lambda msg, logger=None, level=20: logged.append((level, msg)))
    feats_b, _ = later(*batch(sentences[:2], 10))
    warned = [msg for level, msg in logged if level == 30]
    assert len(warned) == 2 and str(files[0]) in ' '.join(warned)
    assert all(msg.startswith('text feature cache: ignored') for msg in warned)
    assert logged[-1][1].endswith('0 sentence features read from 0 files, 2 ignored')
    assert torch.equal(feats_a, feats_b) and len(later._cache) == 2  # encoded again


def test_trained_top_layers_match_the_whole_encoder_and_cache_only_the_frozen_part():
    register_all_modules()
    torch.manual_seed(0)
    config = dict(vocab_size=300, hidden_size=32, num_hidden_layers=3,
                  num_attention_heads=4, intermediate_size=64)
    whole = MODELS.build(dict(type='HFTextEncoder', frozen=True, config=config))
    sentences = [[1] + s.tolist() for s in random_sentences([4, 11, 7], 300)]
    ids, mask = batch(sentences, 14)
    reference, _ = whole(ids, mask)
    for cache in (False, True):
        top = MODELS.build(dict(type='HFTextEncoder', frozen=True, config=config,
                                train_top_layers=1, cache_features=cache))
        top.encoder.load_state_dict(whole.encoder.state_dict())
        feats, _ = top(ids, mask)
        # the same features on real tokens, padding not attended to
        assert torch.allclose(feats[mask == 1], reference[mask == 1], atol=1e-5)
        trained = {n for n, p in top.named_parameters() if p.requires_grad}
        assert trained and all(n.startswith('encoder.encoder.layer.2.') for n in trained)
        feats[:, 0].sum().backward()
        assert all(p.grad is not None for n, p in top.named_parameters() if n in trained)
        if cache:
            # the cache holds layer 2's input: a changed top layer changes the output
            key = next(iter(top._cache))
            first = feats[0, :len(sentences[0])].detach()
            assert not torch.allclose(top._cache[key], first, atol=1e-3)
            with torch.no_grad():
                top.encoder.encoder.layer[2].intermediate.dense.weight.mul_(2)
            moved, _ = top(ids, mask)
            assert (moved - feats).abs()[mask == 1].amax(-1).min() > 1e-3
    bad = dict(type='HFTextEncoder', config=config, train_top_layers=1)
    with pytest.raises(ValueError, match='frozen=True'):
        MODELS.build(bad)
    with pytest.raises(ValueError, match='3 layers'):
        MODELS.build(dict(bad, frozen=True, train_top_layers=4))
