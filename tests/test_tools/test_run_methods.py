"""run_methods: one table of the methods' own results and the text-free baselines."""
import json

import pytest

import sgseg.apis.methods as methods
from sgseg.apis.ablations import ABLATION_METRICS
from .conftest import ROOT


def fake_run(name, seed, cfg, work_dir, threads, schemes, position=''):
    """What ablations._run_one returns, with metrics that name the method and seed."""
    assert schemes  # the baselines come from the schemes table
    base = {'sg_vittiny_synthetic': 40., 'maskclip_vittiny_synthetic': 20.}[name]
    own = {k: base + seed for k in ABLATION_METRICS}
    baseline = {k: 10. + (name == 'maskclip_vittiny_synthetic') for k in ABLATION_METRICS}
    return dict(seed=seed, **own, schemes=dict(whole_image=baseline, centre_ellipse=baseline))


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
