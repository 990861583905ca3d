"""Base of the referring datasets: one sample per sentence, or per image for evaluation."""
from typing import List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

# Fields shared by every sentence of an image; the others belong to each sentence.
IMAGE_KEYS = ('img_path', 'image_id', 'height', 'width')


def group_by_image(sentences: Sequence[dict], source: str = 'the dataset') -> List[dict]:
    """Gather per-sentence samples into one sample per image.

    Images come in the order of their first sentence, and each image's sentences in
    their order in ``sentences``.

    Args:
        sentences: one dict per sentence, each with the :data:`IMAGE_KEYS` (``img_path``
            required, the others where the dataset has them) and its own fields
            (``text``, ``sent_id``, ``segmentation``, ...).
        source: names the annotation file in errors.

    Returns:
        One dict per image: the :data:`IMAGE_KEYS` and ``expressions``, the list of
        its sentences' own fields.

    Raises:
        ValueError: two sentences of one image file disagree on ``image_id``,
            ``height`` or ``width``.
    """
    images = {}
    for sentence in sentences:
        if 'img_path' not in sentence:
            raise KeyError(f"sentence {sentence.get('sent_id')} of {source} has no 'img_path'")
        image = {k: sentence[k] for k in IMAGE_KEYS if k in sentence}
        grouped = images.setdefault(image['img_path'], dict(image, expressions=[]))
        clash = [k for k in image if grouped[k] != image[k]]
        if clash:
            first = grouped['expressions'][0].get('sent_id')
            raise ValueError(
                f"{source}: sentences {first} and {sentence.get('sent_id')} share the image "
                f"file '{image['img_path']}' but not its {', '.join(clash)} "
                f"({[grouped[k] for k in clash]} vs {[image[k] for k in clash]})")
        grouped['expressions'].append(
            {k: v for k, v in sentence.items() if k not in IMAGE_KEYS})
    return list(images.values())


class RefSegDataset(BaseDataset):
    """A referring dataset: sentences over images, grouped by image for evaluation.

    A subclass implements :meth:`load_sentence_list`, one dict per sentence. Training
    samples are those sentences ((image, sentence) pairs). For evaluation
    (``group_by_image``, the default in ``test_mode``) a sample is an **image with all
    its sentences** (:func:`group_by_image`): the image is loaded, resized and encoded
    once, and each sentence is still scored on its own by ``RefSegMetric``. A dataloader's
    ``batch_size`` then counts images.

    Args:
        group_by_image: one sample per image (evaluation only); None means
            ``test_mode``. False evaluates one sample per sentence, re-encoding an image
            for each of its sentences (same predictions, several times slower).
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self, group_by_image: Optional[bool] = None, **kwargs) -> None:
        test_mode = kwargs.get('test_mode', False)
        if group_by_image and not test_mode:
            raise ValueError('group_by_image=True needs test_mode=True: training samples '
                             'are (image, sentence) pairs')
        # Set before BaseDataset.__init__, which loads the data list.
        self.group_by_image = test_mode if group_by_image is None else group_by_image
        super().__init__(**kwargs)

    def load_sentence_list(self) -> List[dict]:
        """One dict per sentence: ``img_path`` and the other :data:`IMAGE_KEYS`,
        ``text``, ``sent_id`` and the sentence's own fields (``segmentation`` in test
        mode)."""
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        """The sentences of :meth:`load_sentence_list`, grouped by image if
        ``group_by_image``."""
        sentences = self.load_sentence_list()
        return group_by_image(sentences, self.ann_file) if self.group_by_image else sentences

    def get_data_info(self, idx: int) -> dict:
        """Return sample ``idx``; an item holding ``sentences`` (a list of
        ``(sent_id, text)``, e.g. ``train_sample='ref'``) gets one drawn.

        The draw uses numpy's global generator, which the runner seeds and
        mmengine's ``worker_init_fn`` reseeds per dataloader worker (a generator
        owned by the dataset would be copied into every worker and repeat the
        same draws).

        Args:
            idx: the sample index.

        Returns:
            The sample dict, with ``text`` and ``sent_id`` unless it is an image
            with all its sentences (``expressions``).
        """
        info = super().get_data_info(idx)
        if 'sentences' in info:
            sentences = info.pop('sentences')
            info['sent_id'], info['text'] = sentences[np.random.randint(len(sentences))]
        return info
