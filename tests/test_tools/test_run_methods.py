"""run_methods: one table of the methods' own results and the text-free baselines."""
import json

import pytest

import sgseg.apis.methods as methods
from sgseg.apis.ablations import ABLATION_METRICS
from .conftest import ROOT


def fake_run(name, seed, cfg, work_dir, threads, schemes, position='', extra_splits=()):
    """What ablations._run_one returns, with metrics that name the method, seed and
    split (the held-out split scores 100 less)."""
    assert schemes  # the baselines come from the schemes table

    def scores(offset):
        base = {'sg_vittiny_synthetic': 40., 'maskclip_vittiny_synthetic': 20.}[name]
        own = {k: base + seed - offset for k in ABLATION_METRICS}
        baseline = {k: 10. + (name == 'maskclip_vittiny_synthetic') - offset
                    for k in ABLATION_METRICS}
        return dict(**own, schemes=dict(whole_image=baseline, centre_ellipse=baseline))
    return dict(seed=seed, **scores(0.), splits={s: scores(100.) for s in extra_splits})


def test_one_row_per_method_and_baseline(tmp_path, monkeypatch):
    monkeypatch.setattr(methods, '_run_one', fake_run)
    configs = [str(ROOT / 'configs' / f'{m}_vittiny_synthetic.py') for m in ('sg', 'maskclip')]
    results = methods.run_methods(configs, str(tmp_path), seeds=[0, 2], max_iters=20)
    assert list(results) == ['sg_vittiny_synthetic', 'maskclip_vittiny_synthetic',
                             'whole_image', 'centre_ellipse']
    assert results['sg_vittiny_synthetic']['summary']['mIoU'] == dict(mean=41., std=1.)
    # the baselines are the first method's evaluation's
    assert results['whole_image']['summary']['PointM']['mean'] == 10.
    text = methods.write_methods_report(results, str(tmp_path / 'methods.md'),
                                        str(tmp_path / 'methods.json'), 'title')
    assert '| maskclip_vittiny_synthetic | 21.00 ± 1.00 | 21.00 ± 1.00 | 21.00 ± 1.00 | 0,2 |' \
        in text
    assert json.loads((tmp_path / 'methods.json').read_text())['centre_ellipse']['runs'][1][
        'seed'] == 2
    with pytest.raises(ValueError, match='share a file name'):
        methods.run_methods(configs[:1] * 2, str(tmp_path))


def test_extra_splits_are_rows_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(methods, '_run_one', fake_run)
    configs = [str(ROOT / 'configs' / f'{m}_vittiny_synthetic.py') for m in ('sg', 'maskclip')]
    results = methods.run_methods(configs, str(tmp_path), seeds=[0, 2], max_iters=20,
                                  extra_splits=['heldout'])
    assert results['maskclip_vittiny_synthetic']['splits']['heldout']['summary']['mIoU'] == \
        dict(mean=-79., std=1.)
    assert results['centre_ellipse']['splits']['heldout']['summary']['mIoU']['mean'] == -90.
    text = methods.write_methods_report(results, str(tmp_path / 'methods.md'),
                                        str(tmp_path / 'methods.json'))
    assert 'heldout mIoU' in text.splitlines()[0]
    assert '| 41.00 ± 1.00 | -59.00 ± 1.00 | 0,2 |' in text


def test_a_finished_run_is_only_tested_on_the_missing_split(tmp_path, monkeypatch):
    """Asking a finished run for another split evaluates its checkpoint, no training."""
    from mmengine.config import Config

    import sgseg.apis.ablations as ablations
    calls = []
    monkeypatch.setattr(ablations, '_run_tool',
                        lambda args, threads, log: calls.append(args[0]) or
                        (tmp_path / 'm' / 'seed0' / 'last_checkpoint').write_text('ckpt'))
    monkeypatch.setattr(ablations, '_evaluate',
                        lambda run_dir, config, ckpt, threads, log, schemes, split=None:
                        calls.append(split) or {k: 1. for k in ABLATION_METRICS})
    cfg = Config(dict(model=dict(type='X')))
    ablations._run_one('m', 0, cfg, str(tmp_path), 1, False)
    assert calls == ['tools/train.py', None]
    calls.clear()
    result = ablations._run_one('m', 0, cfg, str(tmp_path), 1, False, extra_splits=['a', 'b'])
    assert calls == ['a', 'b'] and set(result['splits']) == {'a', 'b'}
    calls.clear()
    ablations._run_one('m', 0, cfg, str(tmp_path), 1, False, extra_splits=['b'])
    assert calls == []  # reused


def test_a_split_added_to_a_schemes_run_is_scored_with_its_schemes(tmp_path, monkeypatch):
    """A run evaluated with the schemes table, asked for another split without them,
    scores that split with them too and stays a schemes run (not retrained later)."""
    from mmengine.config import Config

    import sgseg.apis.ablations as ablations
    kinds = []
    monkeypatch.setattr(ablations, '_run_tool',
                        lambda args, threads, log:
                        (tmp_path / 'm' / 'seed0' / 'last_checkpoint').write_text('ckpt'))
    monkeypatch.setattr(ablations, '_evaluate',
                        lambda run_dir, config, ckpt, threads, log, schemes, split=None:
                        kinds.append((split, schemes)) or {k: 1. for k in ABLATION_METRICS})
    cfg = Config(dict(model=dict(type='X')))
    ablations._run_one('m', 0, cfg, str(tmp_path), 1, True)
    ablations._run_one('m', 0, cfg, str(tmp_path), 1, False, extra_splits=['a'])
    assert kinds == [(None, True), ('a', True)]
    assert json.loads((tmp_path / 'm' / 'seed0' / 'result.json').read_text())['schemes']
