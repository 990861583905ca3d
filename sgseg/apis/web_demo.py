"""A browser page for referring segmentation: an image, sentences, their masks.

:class:`WebDemo` holds the logic (input checks, the inference options of one request,
the pictures of each sentence, the mask files) and builds a Gradio app around it with
:meth:`WebDemo.build_app`; ``tools/web_demo.py`` only parses arguments and launches it.
Gradio is imported when the app is built, so the rest of sgseg does not need it.

For each sentence the page shows the image with the mask painted in, the score map, and
the paper's Fig. 5 view: the top-k entities by A^fuse, each an A^slot heat map with its
weight as a bar. The binary masks come as PNG files at the image's size. All sentences
of a request share one encoding of the image (:class:`RefSegInferencer`).
"""
import contextlib
import os
import os.path as osp
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
from PIL import Image, UnidentifiedImageError

from sgseg.registry import POSTPROCESSORS
from sgseg.visualization import (draw_entities, draw_mask_overlay, draw_patch_maps, heatmap,
                                 patch_maps)
from sgseg.visualization.overlay import title_bar
from .inferencer import RefSegInferencer

SCHEMES = ('fuse', 'max', 'avg', 'min')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


class DemoInputError(ValueError):
    """Bad input from the page (no image, no sentence, an unreadable or huge file)."""


@dataclass
class SentenceView:
    """What the page shows for one sentence.

    Attributes:
        text: the sentence.
        overlay: (h, w, 3) uint8 RGB, the image with the mask painted in.
        score_map: (h, w, 3) uint8 RGB, the score map as a heat map over the image.
        entities: (h', w', 3) uint8 RGB, the top-k entity maps with A^fuse bars
            (ShatterAndGather), or the method's patch maps.
        mask: (H0, W0) bool mask at the image's original size.
        mask_file: PNG of ``mask`` (0 / 255).
        summary: one line: the mask's share of the image (and the top entities).
    """

    text: str
    overlay: np.ndarray
    score_map: np.ndarray
    entities: np.ndarray
    mask: np.ndarray
    mask_file: str
    summary: str


def load_examples(folder: Optional[str]) -> List[Tuple[str, str]]:
    """The bundled examples: each image of ``folder`` with the sentences of its .txt.

    ``folder/<name>.png`` goes with ``folder/<name>.txt``, one sentence per line.

    Returns:
        list: (image path, sentences as one text, a line each), sorted by file name.
    """
    if not folder:
        return []
    if not osp.isdir(folder):
        raise FileNotFoundError(f'examples folder {folder!r} does not exist')
    examples = []
    for name in sorted(os.listdir(folder)):
        stem, suffix = osp.splitext(name)
        if suffix.lower() not in IMAGE_SUFFIXES:
            continue
        text_file = osp.join(folder, stem + '.txt')
        if not osp.isfile(text_file):
            raise FileNotFoundError(f'example image {name} has no sentences file {text_file}')
        with open(text_file) as f:
            sentences = [line.strip() for line in f if line.strip()]
        if not sentences:
            raise ValueError(f'{text_file} holds no sentence')
        examples.append((osp.join(folder, name), '\n'.join(sentences)))
    return examples


def fit_side(image: np.ndarray, side: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` resized so that its longer side is ``side`` pixels."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=interpolation)


def slug(text: str, length: int = 40) -> str:
    """A file-name-safe short form of a sentence."""
    return re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')[:length] or 'sentence'


class WebDemo:
    """The logic of the web demo around a :class:`RefSegInferencer`.

    Args:
        inferencer: the model to run.
        examples: (image path, sentences) pairs offered on the page.
        topk: entities drawn per sentence in the Fig. 5 view.
        max_sentences: sentences one request may hold (the page has a panel for each).
        max_pixels: larger images are refused with a message (decoding and resizing
            them would stall the page).
        display_side: the longer side of the pictures shown, in pixels.
        out_dir: where mask PNGs are written (a new temporary folder if None).
    """

    def __init__(self,
                 inferencer: RefSegInferencer,
                 examples: Sequence[Tuple[str, str]] = (),
                 topk: int = 3,
                 max_sentences: int = 6,
                 max_pixels: int = 4096 * 4096,
                 display_side: int = 320,
                 out_dir: Optional[str] = None):
        self.inferencer = inferencer
        self.examples = list(examples)
        self.topk = topk
        self.max_sentences = max_sentences
        self.max_pixels = max_pixels
        self.display_side = display_side
        self.out_dir = out_dir or tempfile.mkdtemp(prefix='sgseg-web-demo-')
        self.default_threshold = float(inferencer.model.test_cfg['threshold'])
        # methods without inference schemes (all but ShatterAndGather) hide the choice
        self.default_scheme = inferencer.model.test_cfg.get('inference_scheme')
        self.default_crf = inferencer.crf is not None
        self.default_seed = 0 if inferencer.seed is None else int(inferencer.seed)
        self._crf = inferencer.crf
        self._lock = threading.Lock()
        self._requests = 0

    # ------------------------------------------------------------------ inputs
    def parse_sentences(self, text: Optional[str]) -> List[str]:
        """One sentence per non-empty line of ``text``."""
        sentences = [line.strip() for line in (text or '').splitlines() if line.strip()]
        if not sentences:
            raise DemoInputError('Type a sentence (one per line) that names something in '
                                 'the image.')
        if len(sentences) > self.max_sentences:
            raise DemoInputError(f'{len(sentences)} sentences given; the page shows at most '
                                 f'{self.max_sentences} at once.')
        return sentences

    def load_image(self, path: Optional[str]) -> np.ndarray:
        """The image file as (H, W, 3) uint8 BGR, after checking that it is one.

        The size is read from the header first, so a huge image is refused before it
        is decoded.
        """
        if not path:
            raise DemoInputError('Upload an image first (or pick one of the examples).')
        name = osp.basename(path)
        try:
            with Image.open(path) as img:
                width, height = img.size
        except (UnidentifiedImageError, OSError) as err:
            raise DemoInputError(f'{name} is not an image this demo can read '
                                 f'(PNG, JPEG, BMP, ...): {err}') from err
        if width * height > self.max_pixels:
            raise DemoInputError(
                f'{name} is {width} x {height} pixels ({width * height / 1e6:.1f} MP); '
                f'the demo takes at most {self.max_pixels / 1e6:.1f} MP: downscale it first.')
        try:
            return self.inferencer.load_image(path)
        except (ValueError, FileNotFoundError) as err:
            raise DemoInputError(str(err)) from err

    def resolve_crf(self, crf: bool) -> Optional[object]:
        """The DenseCRF post-processor when ``crf`` is on (built once), else None."""
        if not crf:
            return None
        if self._crf is None:
            try:
                self._crf = POSTPROCESSORS.build(self.inferencer.crf_cfg)
            except ImportError as err:
                raise DemoInputError(f'DenseCRF is not available here: {err}') from err
        return self._crf

    @contextlib.contextmanager
    def options(self, threshold: float, scheme: str, crf: bool,
                seed: Optional[float]) -> Iterator[None]:
        """Sets one request's inference options on the inferencer, then restores them.

        Requests are served one at a time (the options live on the shared model).
        """
        if self.default_scheme is not None and scheme not in SCHEMES:
            raise DemoInputError(f'inference scheme must be one of {SCHEMES}, got {scheme!r}')
        threshold = float(threshold)
        if not 0 <= threshold <= 1:
            raise DemoInputError(f'threshold must be in [0, 1], got {threshold}')
        if seed is None or float(seed) != int(seed) or int(seed) < 0:
            raise DemoInputError(f'the slot seed must be a whole number >= 0, got {seed}')
        inferencer = self.inferencer
        test_cfg = inferencer.model.test_cfg
        with self._lock:
            saved = dict(test_cfg), inferencer.crf, inferencer.seed
            test_cfg.update(threshold=threshold)
            if self.default_scheme is not None:
                test_cfg.update(inference_scheme=scheme)
            inferencer.crf = self.resolve_crf(crf)
            inferencer.seed = int(seed)
            try:
                yield
            finally:
                test_cfg.clear()
                test_cfg.update(saved[0])
                inferencer.crf, inferencer.seed = saved[1], saved[2]

    # ------------------------------------------------------------------ outputs
    def segment(self,
                image_path: Optional[str],
                text: Optional[str],
                threshold: Optional[float] = None,
                scheme: Optional[str] = None,
                crf: Optional[bool] = None,
                seed: Optional[float] = None) -> List[SentenceView]:
        """Masks and pictures of every sentence of ``text`` on the image.

        Args:
            image_path: the uploaded image file.
            text: sentences, one per line.
            threshold: tau; None keeps the config's.
            scheme: ``fuse``, ``max``, ``avg`` or ``min``; None keeps the config's
                (ignored by a model without inference schemes).
            crf: DenseCRF on the score maps; None keeps the inferencer's choice.
            seed: slot sampling seed; None keeps the inferencer's.

        Returns:
            list: one :class:`SentenceView` per sentence, in order.

        Raises:
            DemoInputError: with a message for the page.
        """
        image = self.load_image(image_path)
        sentences = self.parse_sentences(text)
        with self.options(self.default_threshold if threshold is None else threshold,
                          scheme or self.default_scheme,
                          self.default_crf if crf is None else crf,
                          self.default_seed if seed is None else seed):
            predictions = self.inferencer(image, sentences)
            self._requests += 1
            request = self._requests
        out_dir = osp.join(self.out_dir, f'request_{request:05d}')
        os.makedirs(out_dir, exist_ok=True)
        rgb = mmcv.bgr2rgb(image)
        shown = fit_side(rgb, self.display_side)
        views = []
        for i, pred in enumerate(predictions):
            mask_file = osp.join(out_dir, f'mask_{i + 1}_{slug(pred.text)}.png')
            cv2.imwrite(mask_file, pred.mask.astype(np.uint8) * 255)
            mask = fit_side(pred.mask.astype(np.uint8), self.display_side, cv2.INTER_NEAREST)
            score = fit_side(pred.score, self.display_side)
            summary = f'mask: {pred.mask.mean():.1%} of the image'
            if 'attn_fuse' in pred.maps:
                order = np.argsort(-pred.attn_fuse)[:self.topk]
                top = ', '.join(f'slot {k} ({pred.attn_fuse[k]:.2f})' for k in order)
                summary += f'; top entities by A^fuse: {top}'
                entities = draw_entities(shown, pred.attn_slot, pred.attn_fuse,
                                         pred.grid_size, self.topk, bars=True)
            else:
                maps = patch_maps(pred.maps, pred.grid_size)
                entities = draw_patch_maps(shown, maps) if maps else None
            views.append(SentenceView(
                text=pred.text,
                overlay=title_bar(draw_mask_overlay(shown, mask), ['mask']),
                score_map=title_bar(heatmap(shown, score), ['score map']),
                entities=entities,
                mask=pred.mask,
                mask_file=mask_file,
                summary=summary))
        return views

    # ------------------------------------------------------------------ the page
    def build_app(self, title: str = 'sgseg: referring segmentation') -> Any:
        """The Gradio Blocks app of the demo (call ``.launch()`` on it)."""
        import gradio as gr

        with gr.Blocks(title=title, analytics_enabled=False) as app:
            gr.Markdown(f'## {title}\nUpload an image, type one sentence per line, and '
                        'press **Segment**. For each sentence: the mask, the score map, and '
                        f'the top-{self.topk} entities the sentence gathers (A^slot maps, '
                        'A^fuse weights as bars).')
            with gr.Row():
                with gr.Column(scale=1):
                    # the file as uploaded (image_mode=None: no conversion), read by the
                    # inferencer's own loader as tools/demo.py reads it
                    image = gr.Image(label='Image', type='filepath', image_mode=None,
                                     sources=['upload', 'clipboard'], elem_id='image')
                    text = gr.Textbox(label='Sentences (one per line)', lines=3,
                                      elem_id='sentences',
                                      placeholder='the large red circle\nthe small blue star')
                    button = gr.Button('Segment', variant='primary', elem_id='segment')
                    with gr.Accordion('Options', open=True):
                        threshold = gr.Slider(0.05, 0.95, value=self.default_threshold,
                                              step=0.05, label='threshold tau',
                                              elem_id='threshold')
                        scheme = gr.Radio(list(SCHEMES), value=self.default_scheme,
                                          label='inference scheme (Table 4b)',
                                          elem_id='scheme',
                                          visible=self.default_scheme is not None)
                        crf = gr.Checkbox(value=self.default_crf, label='DenseCRF',
                                          elem_id='crf')
                        seed = gr.Number(value=self.default_seed, precision=0, minimum=0,
                                         label='slot seed', elem_id='seed')
                    if self.examples:
                        gr.Examples(examples=[list(e) for e in self.examples],
                                    inputs=[image, text], label='Examples',
                                    cache_examples=False)
                with gr.Column(scale=2):
                    status = gr.Textbox(label='Status', interactive=False, lines=2,
                                        elem_id='status')
                    masks = gr.File(label='Masks (PNG at the image size, one per sentence)',
                                    file_count='multiple', interactive=False,
                                    elem_id='masks')
                    # each picture carries its own titles (drawn), Gradio's label would hide them
                    shown = dict(format='png', interactive=False, show_label=False)
                    panels = []
                    for i in range(self.max_sentences):
                        with gr.Column(visible=False, elem_id=f'sentence-{i}') as column:
                            caption = gr.Markdown(elem_id=f'caption-{i}')
                            with gr.Row():
                                overlay = gr.Image(elem_id=f'overlay-{i}', **shown)
                                score_map = gr.Image(elem_id=f'score-{i}', **shown)
                            entities = gr.Image(elem_id=f'entities-{i}', **shown)
                        panels.append((column, caption, overlay, score_map, entities))

            def run(image_path, sentences, tau, scheme_name, use_crf, slot_seed):
                start = time.perf_counter()
                try:
                    views = self.segment(image_path, sentences, tau, scheme_name, use_crf,
                                         slot_seed)
                except DemoInputError as err:
                    gr.Warning(str(err))
                    return [str(err), None] + self._panel_updates(gr, [])
                except Exception as err:  # a bad upload must not kill the page
                    message = f'error: {type(err).__name__}: {err}'
                    gr.Warning(message)
                    return [message, None] + self._panel_updates(gr, [])
                elapsed = time.perf_counter() - start
                status_text = (f'{len(views)} sentence(s) in {elapsed:.2f} s '
                               f'(tau {float(tau):.2f}'
                               f'{f", {scheme_name}" if scheme_name else ""}'
                               f'{", DenseCRF" if use_crf else ""}, slot seed {int(slot_seed)})')
                return ([status_text, [v.mask_file for v in views]]
                        + self._panel_updates(gr, views))

            outputs = [status, masks] + [c for panel in panels for c in panel]
            inputs = [image, text, threshold, scheme, crf, seed]
            button.click(run, inputs=inputs, outputs=outputs)
            text.submit(run, inputs=inputs, outputs=outputs)
        return app

    def _panel_updates(self, gr, views: Sequence[SentenceView]) -> list:
        """Component values of every sentence panel: filled for ``views``, hidden after."""
        updates = []
        for i in range(self.max_sentences):
            if i < len(views):
                v = views[i]
                updates += [gr.Column(visible=True),
                            f'**{i + 1}. "{v.text}"**: {v.summary}',
                            v.overlay, v.score_map, v.entities]
            else:
                updates += [gr.Column(visible=False), '', None, None, None]
        return updates
