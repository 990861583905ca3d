"""tools/test.py: repeatable metrics, the spread over seeds, a checkpoint of another config;
bad options of the tools, fail-early checks, progress, and the analysis tools' inputs."""
import json
import logging
import os
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS

from sgseg.apis import build_evaluation_runner, configure_test, evaluate_seeds
from sgseg.apis.ablations import fit_schedule
from sgseg.evaluation.summary import load_runs
from sgseg.utils import ProgressLog, apply_amp, register_all_modules
from sgseg.visualization import plot_grouped_curves, plot_loss_curves, read_scalars
from .conftest import ROOT, load_tool, run_tool, write_config


@pytest.fixture(scope='module')
def trained(tmp_path_factory, tiny_synthetic):
    tmp = tmp_path_factory.mktemp('rel_tools')
    config = write_config(tmp / 'tiny.py', tiny_synthetic, max_iters=2, ckpt_interval=2)
    run_tool('tools/train.py', str(config), '--work-dir', str(tmp / 'work'), '--cfg-options',
             'train_cfg.val_interval=100')
    return tmp, config, tmp / 'work' / 'iter_2.pth'


def table(output):
    """The metric table's data rows (the last table printed)."""
    return [line for line in output.splitlines() if re.match(r'^\| *(\d+|mean|std) *\|', line)]


def test_same_seed_same_metrics_and_spread_over_three_seeds(trained):
    tmp, config, ckpt = trained
    runs = [run_tool('tools/test.py', str(config), str(ckpt), '--work-dir', str(tmp / 'test'),
                     '--seeds', '3', '--out', str(tmp / f'out{k}.jsonl')) for k in range(2)]
    rows = [table(r.stdout + r.stderr) for r in runs]
    assert rows[0] == rows[1]
    assert [r.split('|')[1].strip() for r in rows[0]] == ['0', '1', '2', 'mean', 'std']
    assert (tmp / 'out0.jsonl').read_text() == (tmp / 'out1.jsonl').read_text()
    # the seeds do change the slots: the per-seed rows are not all equal
    assert len({r.split('|', 2)[2] for r in rows[0][:3]}) > 1
    # --out keeps every seed's lines, seed first, each seed's mIoU the one in its table row
    lines = [json.loads(line) for line in (tmp / 'out0.jsonl').read_text().splitlines()]
    n = len(lines) // 3
    assert n > 0 and [r['seed'] for r in lines] == [0] * n + [1] * n + [2] * n
    assert all(list(r)[0] == 'seed' for r in lines)
    for k in range(3):
        miou = 100 * sum(r['iou'] for r in lines[k * n:(k + 1) * n]) / n
        assert f'{miou:.2f}' == rows[0][k].split('|')[2].strip()
    # the evaluation logs its progress although it is shorter than the logger interval
    assert re.search(r'test: (\d+)/\1 batches \(100%\)', runs[0].stdout + runs[0].stderr)


def test_checkpoint_of_another_config_names_the_parameters(trained, tmp_path, tiny_synthetic):
    _, _, ckpt = trained
    other = write_config(tmp_path / 'wide.py', tiny_synthetic, 'model = dict(embed_dims=48)\n')
    proc = subprocess.run([sys.executable, 'tools/test.py', str(other), str(ckpt), '--work-dir',
                           str(tmp_path / 'w')], cwd=ROOT, capture_output=True, text=True,
                          env={'PYTHONPATH': str(ROOT), 'SGSEG_THREADS': '1',
                               'PATH': '/usr/bin:/bin'})
    assert proc.returncode != 0
    assert re.search(r'ValueError: checkpoint .*iter_2.pth.* does not match the model of this '
                     r'config \(\d+ parameters differ\)', proc.stderr)
    assert 'entity_discovery.norm_slots.bias: checkpoint (32,) vs model (48,)' in proc.stderr
    assert re.search(r'\.\.\. and \d+ more', proc.stderr)


def test_seeds_below_one_is_an_argument_error(capsys):
    with pytest.raises(SystemExit):
        load_tool('tools/test.py').parse_args(['c.py', 'c.pth', '--seeds', '0'])
    assert "argument --seeds: must be an integer >= 1, got '0'" in capsys.readouterr().err


def test_out_folder_fails_before_evaluation(tmp_path):
    checkpoint = tmp_path / 'c.pth'
    torch.save(dict(state_dict={}), checkpoint)
    cfg = Config(dict(model=dict(), test_evaluator=dict(type='RefSegMetric')))
    with pytest.raises(IsADirectoryError, match=f"--out: '{tmp_path}' names a folder"):
        configure_test(cfg, str(checkpoint), out=str(tmp_path))
    with pytest.raises(IsADirectoryError, match='names a folder'):
        configure_test(cfg, str(checkpoint), out=str(tmp_path / 'new') + '/')
    configure_test(cfg, str(checkpoint), out=str(tmp_path / 'new' / 'r.jsonl'))
    assert cfg.test_evaluator.out_file == str(tmp_path / 'new' / 'r.jsonl')


@pytest.mark.parametrize('tool', ['eval_schemes.py', 'threshold_sweep.py', 'crf_sweep.py'])
def test_analysis_tools_check_out_before_evaluating(tool, tmp_path):
    main = load_tool(f'tools/analysis_tools/{tool}').main
    # the checkpoint does not exist either: the --out error must come first
    with pytest.raises(IsADirectoryError, match=f"--out: '{tmp_path}' names a folder"):
        main(['c.py', str(tmp_path / 'missing.pth'), '--out', str(tmp_path)])


def test_one_seed_keeps_its_format_and_several_seeds_keep_every_line(trained, tmp_path):
    _, config, ckpt = trained
    out = tmp_path / 'r.jsonl'
    runner, _ = build_evaluation_runner(str(config), str(ckpt), work_dir=str(tmp_path / 'w'),
                                        out=str(out))
    (one,) = evaluate_seeds(runner, [1], str(out))
    single = [json.loads(line) for line in out.read_text().splitlines()]
    assert single and 'seed' not in single[0]  # unchanged single-seed format
    two = evaluate_seeds(runner, [0, 1], str(out))
    both = [json.loads(line) for line in out.read_text().splitlines()]
    assert both[len(single):] == [dict(seed=1, **r) for r in single]
    assert {r['seed'] for r in both[:len(single)]} == {0} and two[1] == one
    assert sorted(p.name for p in tmp_path.iterdir()) == ['r.jsonl', 'w']  # no part left
    with pytest.raises(ValueError, match='at least one seed'):
        evaluate_seeds(runner, [], str(out))


def test_amp_without_a_gpu_fails_at_start_up(tmp_path, tiny_synthetic, monkeypatch):
    train = load_tool('tools/train.py')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(train.Runner, 'from_cfg',
                        lambda cfg: pytest.fail('the Runner was built before the AMP check'))
    config = write_config(tmp_path / 'tiny.py', tiny_synthetic)
    with pytest.raises(RuntimeError, match='--amp: automatic mixed precision needs a GPU'):
        train.main([str(config), '--amp', '--work-dir', str(tmp_path / 'w')])
    cfg = Config.fromfile(str(config))
    with pytest.raises(RuntimeError, match="config key amp='fp16': automatic mixed"):
        apply_amp(Config(dict(cfg.to_dict(), amp='fp16')), cuda=False)
    # amp='auto' (the recipes) trains in float32 there
    assert apply_amp(Config(dict(cfg.to_dict(), amp='auto')), cuda=False) is None


def _lrs(cfg: Config, iters: int) -> list:
    """The learning rate of each iteration under ``cfg.param_scheduler``."""
    wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), cfg.optim_wrapper)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper))
                  for s in cfg.param_scheduler]
    lrs = []
    for _ in range(iters):
        lrs.append(wrapper.optimizer.param_groups[0]['lr'])
        wrapper.optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return lrs


@pytest.mark.filterwarnings('ignore:Detected call of `scheduler.step\\(\\)`')
@pytest.mark.parametrize('max_iters', [4, 50, 100])
def test_run_ablations_below_the_warm_up_scales_the_schedule(max_iters):
    register_all_modules()
    cfg = Config.fromfile(str(ROOT / 'configs' / 'sg_vittiny_synthetic.py'))
    fit_schedule(cfg, max_iters)
    warm_up, cosine = cfg.param_scheduler
    assert warm_up.begin == 0 and warm_up.end == cosine.begin and cosine.end == max_iters
    assert warm_up.end == max(2, round(100 * max_iters / 1600))
    lrs = _lrs(cfg, max_iters)  # mmengine builds and steps them without error
    # warm-up from 1% of the lr to the lr, then the cosine decay
    assert lrs[0] == pytest.approx(3e-6) and lrs[warm_up.end] == pytest.approx(3e-4)
    assert max(lrs) == pytest.approx(3e-4) and 0 < lrs[-1] <= lrs[warm_up.end]


def test_run_ablations_above_the_warm_up_keeps_it():
    cfg = Config.fromfile(str(ROOT / 'configs' / 'sg_vittiny_synthetic.py'))
    fit_schedule(cfg, 300)
    assert [(s.begin, s.end) for s in cfg.param_scheduler] == [(0, 100), (100, 300)]
    with pytest.raises(ValueError, match=r'cannot hold the 2 phases .*--max-iters >= 4'):
        fit_schedule(Config.fromfile(str(ROOT / 'configs' / 'sg_vittiny_synthetic.py')), 3)


def _write_scalars(work_dir, stamp, records, tail=''):
    path = work_dir / stamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records) + tail)


def test_plot_curves_without_a_logged_loss_says_why(tmp_path):
    with pytest.raises(FileNotFoundError, match='no run of this work dir has logged'):
        plot_loss_curves(str(tmp_path), str(tmp_path / 'c.png'))
    # a run that only evaluated (tools/test.py) logs metrics, not a loss
    _write_scalars(tmp_path, '20260101_000000', [dict(mIoU=40.0, step=0)])
    with pytest.raises(ValueError, match=r"no 'loss' scalar logged .*logging \['mIoU'\]"):
        plot_loss_curves(str(tmp_path), str(tmp_path / 'c.png'))
    proc = subprocess.run([sys.executable, 'tools/analysis_tools/plot_curves.py', str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.startswith("plot_curves: no 'loss' scalar logged")


def test_plot_curves_takes_the_newest_training_run(tmp_path):
    # training, killed while writing its last line; then an evaluation in the same dir
    _write_scalars(tmp_path, '20260101_000000',
                   [dict(loss=2.0, lr=1e-3, step=5), dict(loss=1.5, lr=1e-3, step=10)],
                   tail='{"loss": 1.')
    _write_scalars(tmp_path, '20260101_010000', [dict(mIoU=40.0, step=0)])
    assert read_scalars(str(tmp_path)) == {'mIoU': [(0, 40.0)]}
    assert read_scalars(str(tmp_path), 'loss')['loss'] == [(5, 2.0), (10, 1.5)]
    assert plot_loss_curves(str(tmp_path), str(tmp_path / 'c.png')) == ['loss']
    assert (tmp_path / 'c.png').stat().st_size > 1000


def test_summarize_seeds_counts_each_run_once(tmp_path):
    runs = []
    for seed in range(2):
        path = tmp_path / f'seed{seed}' / 'schemes.json'
        path.parent.mkdir()
        path.write_text(json.dumps(dict(fuse=dict(mIoU=40.0 + seed))))
        runs.append(str(path))
    assert [r['fuse']['mIoU'] for r in load_runs(runs)] == [40.0, 41.0]
    with pytest.raises(ValueError, match='is the file .*seed0/schemes.json.* again'):
        load_runs(runs + [runs[0]])
    dotted = str(tmp_path / 'seed1' / '..' / 'seed0' / 'schemes.json')
    with pytest.raises(ValueError, match='again'):
        load_runs(runs + [dotted])
    copy = tmp_path / 'copy.json'
    copy.write_text(json.dumps(json.loads(open(runs[1]).read()), indent=2))
    with pytest.raises(ValueError, match='holds the same results as .*seed1'):
        load_runs(runs + [str(copy)])


def test_progress_log_lines(caplog):
    logger = logging.getLogger('sgseg.test_progress')
    with caplog.at_level(logging.INFO, logger=logger.name):
        with ProgressLog(7, 'evaluating', num_logs=3, logger=logger) as progress:
            for _ in range(7):
                progress.update()
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(',')[0] for line in lines] == [
        'evaluating: 3/7 batches (43%)', 'evaluating: 6/7 batches (86%)',
        'evaluating: 7/7 batches (100%)']
    assert 'ETA' in lines[0] and 'ETA' not in lines[-1]


def test_results_by_family_says_when_it_pools_seeds(tmp_path, monkeypatch, capsys):
    rows = [dict(seed=seed, sent_id=1, iou=iou, pointm_hit=True, text='the red square')
            for seed, iou in ((0, 0.5), (1, 0.7))]
    results = tmp_path / 'r.jsonl'
    results.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    tool = load_tool('tools/analysis_tools/results_by_family.py')
    monkeypatch.setattr(sys, 'argv', ['results_by_family.py', str(results)])
    tool.main()
    out = capsys.readouterr().out
    assert 'seeds 0, 1 pooled; n counts lines' in out and '60.00' in out


def test_plot_curves_compares_groups_of_runs(tmp_path):
    """--group: per group the mean over its runs at shared steps, and each key's last
    value as mean ± std; a key a run did not log is named."""
    def run(name, losses, miou):
        records = [dict(loss_recon=v, step=s) for s, v in losses]
        _write_scalars(tmp_path / name, '20260101_000000',
                       records + [dict(mIoU=miou, step=losses[-1][0])])
        return str(tmp_path / name)

    exact = [run('e0', [(10, 1.0), (20, 0.5)], 30.0), run('e1', [(10, 0.8), (20, 0.7)], 34.0)]
    # the second sampled run also logged step 15, which the other did not: left out
    sampled = [run('s0', [(10, 1.2), (20, 0.6)], 31.0),
               run('s1', [(10, 1.0), (15, 0.9), (20, 0.8)], 33.0)]
    out = tmp_path / 'compare.png'
    summary = plot_grouped_curves(dict(exact=exact, sampled=sampled),
                                  ['loss_recon', 'mIoU'], str(out))
    assert out.stat().st_size > 1000
    assert summary['exact']['loss_recon'] == pytest.approx((0.6, 0.1))
    assert summary['exact']['mIoU'] == pytest.approx((32.0, 2.0))
    assert summary['sampled']['loss_recon'] == pytest.approx((0.7, 0.1))
    with pytest.raises(ValueError, match=r"e0' logged no 'loss_c3'"):
        plot_grouped_curves(dict(exact=exact), ['loss_c3'], str(out))
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/plot_curves.py', '--group', 'exact', *exact,
         '--group', 'sampled', *sampled, '--keys', 'loss_recon', 'mIoU', '--out', str(out)],
        cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert '| exact | 2 | 0.6 ± 0.1 | 32 ± 2 |' in proc.stdout
    assert '| sampled | 2 | 0.7 ± 0.1 | 32 ± 1 |' in proc.stdout
