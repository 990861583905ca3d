"""run_ablations.py end to end (2 ablations x 1 seed x 10 iterations), threshold_sweep.py
and crf_sweep.py."""
import json
import re

import pytest
from mmengine.config import Config

from sgseg.apis import ablated_config, config_diff, paper_ablations, run_ablations
from sgseg.postprocess import crf_settings
from .conftest import ROOT, run_tool, write_tiny_config


def test_paper_ablations_are_the_config_diffs():
    ablations = paper_ablations(str(ROOT / 'configs'))
    assert ablations['no-interaction']['overrides'] == {
        'model.entity_discovery.use_interaction': False}
    assert ablations['slots-query-12']['overrides'] == {
        'model.entity_discovery.slot_initializer': {'type': 'QuerySlots', 'num_slots': 12,
                                                    'init_style': 'authors'}}
    # slot-count ablations set K_g and K_s together (ablation_set_whole), even where
    # K_s equals the recipe's: 6 x 2 must stay 12 slots on a base with another K_s
    assert ablations['slots-entity-9x4']['overrides'] == {
        'model.entity_discovery.slot_initializer':
            {'type': 'EntitySlots', 'num_gaussians': 9, 'slots_per_gaussian': 4,
             'init_style': 'authors'}}
    base = Config.fromfile(str(ROOT / 'configs' / 'sg_vittiny_synthetic.py'))
    recipe = Config.fromfile(ablations['slots-entity-6x2']['recipe'])
    assert recipe.model.entity_discovery.slot_initializer.slots_per_gaussian == 2
    on_synthetic, _ = ablated_config(base, ablations['slots-entity-6x2']['overrides'])
    assert on_synthetic.model.entity_discovery.slot_initializer == dict(
        type='EntitySlots', num_gaussians=6, slots_per_gaussian=2, init_style='authors')
    # replayed on the synthetic config, each diff is exactly the change it makes there
    for name in ('pooled-itc', 'iters-1', 'slots-random-24', 'c3-mask-same-image'):
        cfg, applied = ablated_config(base, ablations[name]['overrides'])
        assert applied == ablations[name]['overrides']
        assert config_diff(base.to_dict()['model'], cfg.to_dict()['model'], 'model.') == applied
    # the synthetic config trains without reconstruction: a decoder option brings in the
    # recipe's reconstruction loss, and the applied overrides say so
    recipe = Config.fromfile(ablations['recon-pos-sine']['recipe']).to_dict()
    cfg, applied = ablated_config(base, ablations['recon-pos-sine']['overrides'], recipe)
    assert list(applied) == ['model.recon_loss']
    assert cfg.model.recon_loss.decoder.position_embedding == 'sine'
    # a schedule ablation has no model diff: replaying it would train the base unchanged
    assert ablations['schedule-sec4.1-lr1e-4-everywhere']['overrides'] == {}
    with pytest.raises(ValueError, match=r"\['schedule-sec4.1-lr1e-4-everywhere'\] change no "
                                         'model key'):
        run_ablations(['schedule-sec4.1-lr1e-4-everywhere'],
                      str(ROOT / 'configs' / 'sg_vittiny_synthetic.py'), 'unused',
                      config_dir=str(ROOT / 'configs'))


def test_run_ablations_and_threshold_sweep(tmp_path, tiny_synthetic):
    config = write_tiny_config(tmp_path / 'tiny.py', tiny_synthetic)
    work = tmp_path / 'ablations'
    proc = run_tool('tools/analysis_tools/run_ablations.py', 'baseline', 'no-interaction',
                    '--config', str(config), '--seeds', '3', '--max-iters', '10',
                    '--work-dir', str(work), '--jobs', '2', '--schemes', timeout=600)
    # progress: a line when each run starts and when it ends
    log = proc.stdout + proc.stderr
    for k, name in ((1, 'baseline'), (2, 'no-interaction')):
        assert f'ablations [{k}/2] {name} seed 3: training and testing' in log
        assert re.search(rf'ablations \[{k}/2\] {name} seed 3: done in \d+ s, mIoU', log)
    table = (work / 'ablations.md').read_text()
    rows = [r for r in table.splitlines() if r.startswith('| baseline |') or
            r.startswith('| no-interaction |')]
    assert len(rows) == 2 and '±' in rows[0]
    assert 'model.entity_discovery.use_interaction=False' in rows[1]
    results = json.loads((work / 'ablations.json').read_text())
    for name in ('baseline', 'no-interaction'):
        run = results[name]['runs'][0]
        assert run['seed'] == 3 and 0 <= run['mIoU'] <= 100 and 'PointM' in run
        assert results[name]['summary']['mIoU']['std'] == 0.  # one seed
        cfg = Config.fromfile(str(work / name / 'seed3' / 'config.py'))
        assert cfg.train_cfg.max_iters == 10 and cfg.randomness.seed == 3
        assert cfg.model.test_cfg.seed == 3
        assert cfg.model.entity_discovery.get('use_interaction', True) is (name == 'baseline')
        assert (work / name / 'seed3' / 'iter_10.pth').is_file()
        assert results[f'{name} [min]']['runs'][0]['seed'] == 3
    # the text-independent baselines are listed once, under the first name
    assert results['baseline [whole_image]']['runs'][0]['mIoU'] > 0
    assert 'no-interaction [whole_image]' not in results
    # A second sweep with one more seed reuses the finished runs and trains only the new.
    checkpoint = work / 'baseline' / 'seed3' / 'iter_10.pth'
    mtime = checkpoint.stat().st_mtime_ns
    run_tool('tools/analysis_tools/run_ablations.py', 'baseline', '--config', str(config),
             '--seeds', '3', '4', '--max-iters', '10', '--work-dir', str(work), timeout=600)
    assert checkpoint.stat().st_mtime_ns == mtime
    rerun = json.loads((work / 'ablations.json').read_text())['baseline']['runs']
    assert [r['seed'] for r in rerun] == [3, 4]
    assert rerun[0]['mIoU'] == results['baseline']['runs'][0]['mIoU']

    # tau sweep from one pass: its tau = 0.5 row is the run's own test result
    seed_dir = work / 'baseline' / 'seed3'
    out = tmp_path / 'tau.md'
    proc = run_tool('tools/analysis_tools/threshold_sweep.py', str(seed_dir / 'config.py'),
                    str(seed_dir / 'iter_10.pth'), '--thresholds', '0.3', '0.5', '0.7',
                    '--work-dir', str(tmp_path / 'sweep'), '--out', str(out))
    assert re.search(r'evaluating thresholds: (\d+)/\1 batches \(100%\)',
                     proc.stdout + proc.stderr)
    lines = out.read_text().splitlines()
    assert [line.split('|')[1].strip() for line in lines[2:]] == ['0.30', '0.50', '0.70']
    miou = float(lines[3].split('|')[2])
    assert abs(miou - results['baseline']['runs'][0]['mIoU']) < 0.006

    # DenseCRF settings from one pass, two splits pooled: a row equals tools/test.py --crf
    # with that setting in the config's dense_crf
    pytest.importorskip('pydensecrf.densecrf')
    out = tmp_path / 'crf.md'
    proc = run_tool('tools/analysis_tools/crf_sweep.py', str(seed_dir / 'config.py'),
                    str(seed_dir / 'iter_10.pth'), '--splits', 'val', 'val',
                    '--bilateral-srgb', '13', '30', '--num-iters', '2',
                    '--work-dir', str(tmp_path / 'crf'), '--out', str(out))
    assert re.search(r'evaluating DenseCRF settings: (\d+)/\1 batches \(100%\)',
                     proc.stdout + proc.stderr)
    rows = [[c.strip() for c in line.split('|')[1:-1]] for line in
            out.read_text().splitlines()[2:]]
    assert [(float(r[1]), int(r[5])) for r in rows] == [(13., 2), (30., 2)]
    # the parameters not swept keep the config's dense_crf values, else DenseCRF's
    kept = crf_settings(Config.fromfile(str(seed_dir / 'config.py'))).get('bilateral_sxy', 80.)
    assert float(rows[0][0]) == kept and sorted(r[-1] for r in rows) == ['', '*']
    proc = run_tool('tools/test.py', str(seed_dir / 'config.py'), str(seed_dir / 'iter_10.pth'),
                    '--crf', '--work-dir', str(tmp_path / 'crf_test'), '--cfg-options',
                    'dense_crf.type=DenseCRF', 'dense_crf.bilateral_srgb=30.',
                    'dense_crf.num_iters=2')
    plain = re.findall(r'^\|\s+3\s+\|\s+([\d.]+)\s+\|.*\|\s+(\d+)\s+\|$', proc.stdout, re.M)
    assert plain and abs(float(plain[-1][0]) - float(rows[1][6])) < 0.006
    # val twice: every sentence counted twice
    assert [int(r[-2]) for r in rows] == [2 * int(plain[-1][1])] * 2
