"""Referring segmentation of new images from a config and a checkpoint."""
import copy
import os
import os.path as osp
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.model import ImgDataPreprocessor
from mmengine.runner import load_checkpoint
from mmengine.utils import import_modules_from_strings
from PIL import Image

from sgseg.engine.checkpoint_files import check_checkpoint_file
from sgseg.models.segmentors.base_refseg import image_key, slot_generators
from sgseg.postprocess.dense_crf import crf_settings
from sgseg.registry import MODELS, POSTPROCESSORS, TRANSFORMS
from sgseg.utils import register_all_modules

ImageInput = Union[str, os.PathLike, np.ndarray, Image.Image]
# What a single image may be (a torch.Tensor is recognised to be refused clearly).
SINGLE_IMAGE_TYPES = (str, os.PathLike, np.ndarray, Image.Image, torch.Tensor)
TextInput = Union[str, Sequence[str]]

# Transforms of an evaluation pipeline that read annotations: a new image has none.
ANNOTATION_LOADERS = ('LoadRefMask', 'LoadAnnotations')


@dataclass
class RefSegPrediction:
    """The answer for one (image, sentence) pair, at the image's original size.

    Attributes:
        text: the sentence.
        score: (H0, W0) float32 score map, min-max normalised to [0, 1] (after
            DenseCRF when it is on).
        mask: (H0, W0) bool, ``score >= test_cfg.threshold``.
        grid_size: (h, w) patch grid, h * w = N.
        maps: the model's intermediate maps of this sentence, by name (see
            ``BaseRefSegmentor.score_pairs``); a map of shape ``grid_size`` is a
            patch map. ShatterAndGather gives ``attn_slot`` (N, K), A^slot, each
            patch's attention over the K entities (all sentences of one image share
            it), and ``attn_fuse`` (K,), A^fuse, the sentence's relevance of each
            entity; they are also read as attributes (``pred.attn_slot``).
    """

    text: str
    score: np.ndarray
    mask: np.ndarray
    grid_size: Tuple[int, int]
    maps: Dict[str, np.ndarray] = field(default_factory=dict)

    def __getattr__(self, name: str) -> np.ndarray:
        maps = self.__dict__.get('maps', {})
        if name in maps:
            return maps[name]
        raise AttributeError(f'{type(self).__name__} has no attribute {name!r} (its '
                             f'maps: {sorted(maps)})')


def load_config(config: Union[str, Config]) -> Config:
    """A Config from a path (custom imports done by mmengine) or a Config object."""
    if isinstance(config, Config):
        if config.get('custom_imports'):
            import_modules_from_strings(**config.custom_imports)
        return config
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config!r} does not exist')
    return Config.fromfile(config)


class RefSegInferencer:
    """Masks of sentences on images, with a trained referring segmentor (any
    ``BaseRefSegmentor``: ShatterAndGather, MaskCLIP, ...).

    Each image is loaded and resized by the config's evaluation pipeline
    (``test_dataloader.dataset.pipeline`` without its mask loader), normalised by the
    model's data preprocessor, and encoded **once** (``encode_image``; for
    ShatterAndGather, ViT tokens and entity discovery run once per image and slot
    draw), then every sentence of the image only adds a text encoding and its scoring
    (``score_pairs``). The score map is the model's own inference (for
    ShatterAndGather ``test_cfg.inference_scheme`` and ``num_slot_samples``), brought
    back to the original image size and thresholded at ``test_cfg.threshold``.

    Random draws are seeded per image: the draw of an image depends on ``seed`` and
    on the image's id when one is given (``image_ids``; the same draw as
    ``tools/test.py`` makes for that ``image_id``), else on its pixels only, so a
    result repeats whatever the other images of the call, their order or
    ``batch_size``.

    Args:
        config: config file or Config holding ``model`` and ``test_dataloader``.
        checkpoint: checkpoint file loaded with mmengine's ``load_checkpoint``; None
            keeps the weights the config builds (random, or pretrained towers such as
            a CLIP checkpoint's for MaskCLIP's zero-shot readout).
        device: torch device the model runs on.
        crf: turn DenseCRF post-processing on (the config's ``model.test_cfg.crf``
            post-processor if it names one, else its ``dense_crf`` settings, else
            ``DenseCRF()``). False leaves the config's choice, like ``tools/test.py``
            without ``--crf``.
        seed: slot sampling seed; None draws slots from the global RNG.
    """

    def __init__(self,
                 config: Union[str, Config],
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 crf: bool = False,
                 seed: Optional[int] = 0):
        register_all_modules()
        cfg = load_config(config)
        if checkpoint is not None and (cfg.model.get('backbone') or {}).get('pretrained'):
            # the checkpoint holds every weight: the ViT's pretrained ones are not fetched
            cfg = copy.deepcopy(cfg)
            cfg.model.backbone.pretrained = False
        self.model = MODELS.build(cfg.model)
        if checkpoint is not None:
            if not osp.isfile(checkpoint):
                raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
            check_checkpoint_file(checkpoint)  # truncated / foreign: one line naming it
            # strict: a checkpoint of another architecture must fail here, not
            # silently leave layers random and draw meaningless masks.
            load_checkpoint(self.model, checkpoint, map_location='cpu', strict=True)
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.seed = seed
        self.loader, self.pipeline = self.build_pipeline(cfg)
        # what turning DenseCRF on builds here and in the web demo
        self.crf_cfg = crf_settings(cfg)
        crf_cfg = self.model.test_cfg.get('crf') or crf
        self.crf = None if not crf_cfg else POSTPROCESSORS.build(
            self.crf_cfg if crf_cfg is True else crf_cfg)

    @staticmethod
    def build_pipeline(cfg: Config) -> Tuple[object, Compose]:
        """The image loader and the remaining transforms of the evaluation pipeline."""
        try:
            steps = cfg.test_dataloader.dataset.pipeline
        except AttributeError as err:
            raise KeyError('config has no test_dataloader.dataset.pipeline: the '
                           'inferencer resizes images with it') from err
        steps = [s for s in steps if s['type'] not in ANNOTATION_LOADERS]
        if not steps or not steps[0]['type'].startswith('Load'):
            raise ValueError('test_dataloader.dataset.pipeline must start with an image '
                             f'loader (LoadRefImage), got {steps[:1]}')
        return TRANSFORMS.build(steps[0]), Compose(steps[1:])

    def load_image(self, image: ImageInput, name: str = 'image') -> np.ndarray:
        """An image path, PIL image or array as the model sees it before resizing.

        Args:
            image: a file path (read by the config's loader, e.g. ``LoadRefImage``), a
                PIL image (any mode; converted to RGB, alpha dropped), or a uint8 numpy
                array: (H, W, 3) **BGR** (mmcv / OpenCV convention), (H, W, 4) BGRA
                (alpha dropped), (H, W) or (H, W, 1) grayscale.
            name: how error messages call the image.

        Returns:
            np.ndarray: (H0, W0, 3) uint8 BGR.

        Raises:
            TypeError: a torch tensor, a non-uint8 array or another type; the message
                says how to convert it.
            ValueError: an array of another shape, or with no pixel.
        """
        if isinstance(image, (str, os.PathLike)):
            image = os.fspath(image)
            if not osp.isfile(image):
                raise FileNotFoundError(f'image {image!r} does not exist')
            return self.loader(dict(img_path=image))['img']
        if isinstance(image, Image.Image):
            image = np.ascontiguousarray(np.asarray(image.convert('RGB'))[..., ::-1])
        if isinstance(image, torch.Tensor):
            raise TypeError(
                f'{name}: a torch.Tensor {tuple(image.shape)} {image.dtype} is not an '
                'image the inferencer reads (it normalises and resizes itself): give a file '
                'path, a PIL image, or an (H, W, 3) uint8 BGR numpy array, e.g. for a '
                '(3, H, W) RGB tensor in [0, 1]: '
                '(t.permute(1, 2, 0) * 255).round().byte().numpy()[..., ::-1]')
        if not isinstance(image, np.ndarray):
            raise TypeError(f'{name}: an image must be a file path, a PIL image or a uint8 '
                            f'numpy array, got {type(image).__name__}')
        if image.dtype != np.uint8:
            raise TypeError(
                f'{name}: an image array must be uint8 (0-255), got {image.dtype}; e.g. '
                'for floats in [0, 1]: (image * 255).round().astype(np.uint8)')
        if image.ndim == 3 and image.shape[2] not in (1, 3, 4) and image.shape[0] in (1, 3, 4):
            raise ValueError(f'{name}: array of shape {image.shape} looks channel-first '
                             '(C, H, W); images are (H, W, C): use image.transpose(1, 2, 0)')
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
            raise ValueError(f'{name}: an image array must be (H, W, 3) BGR, (H, W, 4) BGRA '
                             f'or (H, W) grayscale, got shape {image.shape}')
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f'{name}: the image is empty ({image.shape[0]}x{image.shape[1]} '
                             'pixels)')
        if image.ndim == 2 or image.shape[2] == 1:
            return mmcv.gray2bgr(image.reshape(image.shape[:2]))
        return np.ascontiguousarray(image[..., :3])

    def generators(self, images: Sequence[np.ndarray], keys: Sequence[Optional[str]],
                   draw: int) -> Optional[List[torch.Generator]]:
        """One generator per image, seeded by (seed, image key, draw); an image without
        a key (no id given) is keyed by its pixels."""
        if self.seed is None:
            return None
        keys = [key if key is not None else
                f'pixels {zlib.crc32(np.ascontiguousarray(img).data)} {img.shape}'
                for img, key in zip(images, keys)]
        return slot_generators(self.seed, keys, draw)

    def __call__(self,
                 images: Union[ImageInput, Sequence[ImageInput]],
                 texts: Union[TextInput, Sequence[TextInput]],
                 batch_size: int = 4,
                 image_ids: Optional[Union[object, Sequence[object]]] = None
                 ) -> Union[List[RefSegPrediction], List[List[RefSegPrediction]]]:
        """Segments each sentence on its image.

        Args:
            images: one image or a list of images (paths, PIL images or uint8 BGR
                arrays; see :meth:`load_image`).
            texts: for one image, a sentence or a list of sentences; for a list of
                images, a list with one entry (a sentence or a list of sentences) per
                image.
            batch_size: images encoded together (all their sentences go with them).
            image_ids: the image's id, or one per image (None entries allowed): an
                image with an id draws its slots as evaluation does for that
                ``image_id`` (``tools/test.py`` with the same seed gives the same
                entities); without one, the draw is keyed by the image's pixels.

        Returns:
            For one image, a list with one :class:`RefSegPrediction` per sentence; for
            a list of images, one such list per image.
        """
        single = isinstance(images, SINGLE_IMAGE_TYPES)
        if single:
            images, texts, image_ids = [images], [texts], [image_ids]
        elif image_ids is None:
            image_ids = [None] * len(images)
        if len(image_ids) != len(images):
            raise ValueError(f'{len(images)} images need {len(images)} image_ids, got '
                             f'{len(image_ids)}')
        if isinstance(texts, str) or len(texts) != len(images):
            raise ValueError(f'{len(images)} images need a list of {len(images)} entries '
                             '(a sentence or a list of sentences each) in `texts`, got '
                             f'{texts!r}')
        sentences = [[t] if isinstance(t, str) else list(t) for t in texts]
        for i, sents in enumerate(sentences):
            if not sents:
                raise ValueError(f'image {i} has no sentence')
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        results = []
        for start in range(0, len(images), batch_size):
            stop = start + batch_size
            names = [os.fspath(img) if isinstance(img, (str, os.PathLike))
                     else 'image' if single else f'image {start + i}'
                     for i, img in enumerate(images[start:stop])]
            loaded = [self.load_image(img, name)
                      for img, name in zip(images[start:stop], names)]
            keys = [None if i is None else image_key(dict(image_id=i))
                    for i in image_ids[start:stop]]
            results.extend(self.predict_batch(loaded, sentences[start:stop], names, keys))
        return results[0] if single else results

    @torch.no_grad()
    def predict_batch(self, images: List[np.ndarray], sentences: List[List[str]],
                      names: List[str], keys: Optional[List[Optional[str]]] = None
                      ) -> List[List[RefSegPrediction]]:
        """Predictions for a batch of loaded images and their sentences.

        Args:
            images: B (H0, W0, 3) uint8 BGR images.
            sentences: B lists of sentences.
            names: B names for error messages.
            keys: B slot-seeding keys (:func:`image_key`), None for the pixels.

        Returns:
            list: B lists of predictions, in the order of the sentences.
        """
        model = self.model
        packed = [self.pipeline(dict(img=img, img_path=name, ori_shape=img.shape[:2],
                                     img_shape=img.shape[:2]))
                  for img, name in zip(images, names)]
        # Only the image half of RefSegDataPreProcessor: its forward would also tokenise
        # one sentence per image, whereas the sentences are tokenised here, all at once.
        data = ImgDataPreprocessor.forward(
            model.data_preprocessor, dict(inputs=[p['inputs'] for p in packed],
                                          data_samples=[p['data_samples'] for p in packed]))
        imgs = data['inputs']
        owner = torch.tensor([i for i, sents in enumerate(sentences) for _ in sents],
                             device=self.device)
        flat = [s for sents in sentences for s in sents]
        tokens = model.data_preprocessor.tokenize(
            flat, [f'{names[i]}: sentence {s!r}' for i, s in zip(owner.tolist(), flat)])
        text = model.encode_text({k: v.to(self.device) for k, v in tokens.items()})

        feats, grid = model.encode_image(imgs)
        keys = keys or [None] * len(images)
        scores, maps = model.score_pairs(feats, grid, text, owner,
                                         lambda draw: self.generators(images, keys, draw))
        maps = {name: value.cpu().numpy() for name, value in maps.items()}

        results = [[] for _ in images]
        for i, sents in enumerate(sentences):
            rows = (owner == i).nonzero()[:, 0]
            sized = model.to_original_size(scores[rows], packed[i]['data_samples'].metainfo,
                                           imgs.shape[-2:]).cpu().numpy()
            for p, sentence, score in zip(rows.tolist(), sents, sized):
                if self.crf is not None:
                    score = self.crf(mmcv.bgr2rgb(images[i]), score)
                results[i].append(RefSegPrediction(
                    text=sentence,
                    score=score.astype(np.float32),
                    mask=score >= model.test_cfg['threshold'],
                    grid_size=tuple(grid),
                    maps={name: value[p] for name, value in maps.items()}))
        return results
