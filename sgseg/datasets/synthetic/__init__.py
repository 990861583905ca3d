"""A synthetic referring-segmentation dataset written in the RefCOCO release format.

Each image shows 3-5 coloured shapes over a desaturated background, drawn in one of
several rendering styles (a ``heldout_scenes`` split shows styles no other split does:
:data:`~.attributes.HELDOUT_STYLES`); each referring sentence names exactly one of them by
colour, shape, size, texture, absolute position, its place in an order (the leftmost, the
second biggest, the smaller of two) or its relation to another shape (left of, above, next
to it). The output folder has the same files as a RefCOCO release (``instances.json`` in
COCO format, ``refs(unc).p``, an image folder), so it is read by the same dataset code as
the real benchmarks.

Each sentence is written from an :class:`Expression`, which :func:`matching_shapes`
evaluates on a scene: the generator proves that every sentence identifies exactly one
shape, records each sentence's expression and family (``sentences.json``), and measures
how often a sentence also fits another image of a training batch (a false negative for a
contrastive loss that treats every other image of the batch as a negative). A
``heldout_phrasing`` split uses phrasings that no other split uses
(:data:`HELDOUT_PHRASINGS`). :func:`parse_sentence` reads back sentences of the
attribute, position and left/right/above/below kinds.

Modules: :mod:`.attributes` (kinds, colours, sizes, textures, :class:`ShapeInfo`,
:class:`Scene`), :mod:`.render` (drawing scenes and masks), :mod:`.expressions`
(:class:`Phrase`, :class:`Expression` and their meaning on a scene), :mod:`.grammar`
(sentence writing and the choice of expressions), :mod:`.parser`, :mod:`.analysis`
(sentence families and measurements) and :mod:`.generate` (the dataset files and the
command line).

Only numpy, OpenCV, pycocotools and the standard library are used, so the dataset can be
generated without the deep-learning stack::

    python -m sgseg.datasets.synthetic --out data/synthetic_refer --seed 0
"""
from .analysis import (SENTENCES_FILE, batch_false_negative_rate, classify_sentence,
                       expression_from_dict, expression_to_dict, load_families,
                       results_by_family, sentence_family)
from .attributes import (COLOURS, GENERATOR_VERSION, HELDOUT_STYLES, KINDS, RELATIONS, SIZES,
                         SPLITS, TEXTURES, Scene, SceneStyle, ShapeInfo)
from .expressions import (ORDERS, Expression, Phrase, identifies, matching_shapes,
                          phrase_matches, relation_holds)
from .generate import is_current, main, make_synthetic_refer, parse_family_weights
from .grammar import (FAMILIES, HELDOUT_PATTERNS, HELDOUT_PHRASINGS, TRAIN_LEFT_OUT,
                      describe, expression_family, refer, write_sentence)
from .parser import parse_sentence
from .render import image_rng, mask_to_polygons, render_scene

__all__ = [
    'COLOURS', 'FAMILIES', 'GENERATOR_VERSION', 'HELDOUT_PATTERNS', 'HELDOUT_PHRASINGS',
    'HELDOUT_STYLES', 'KINDS', 'ORDERS', 'RELATIONS', 'SENTENCES_FILE', 'SIZES', 'SPLITS',
    'TEXTURES', 'TRAIN_LEFT_OUT',
    'Expression', 'Phrase', 'Scene', 'SceneStyle', 'ShapeInfo', 'batch_false_negative_rate',
    'classify_sentence', 'describe', 'expression_family', 'expression_from_dict',
    'expression_to_dict', 'identifies', 'image_rng', 'is_current', 'load_families', 'main',
    'make_synthetic_refer', 'mask_to_polygons', 'matching_shapes', 'parse_family_weights',
    'parse_sentence', 'phrase_matches', 'refer', 'relation_holds', 'render_scene',
    'results_by_family', 'sentence_family', 'write_sentence'
]
