"""The build-time checks of sgseg.datasets.validation, one kind of input at a time."""
import numpy as np
import pycocotools.mask as mask_utils
import pytest

from sgseg.datasets.validation import (_compressed_rle_counts, check_segmentations,
                                       check_sentence, decode_py2_strings,
                                       segmentation_areas)
from tests.fixtures import uncompressed_rle


@pytest.mark.parametrize('seed', range(4))
def test_compressed_rle_reader_agrees_with_pycocotools(seed):
    """Counts read from pycocotools' own strings: sum H x W and the same area."""
    rng = np.random.default_rng(seed)
    mask = (rng.random((37, 53)) < [0.02, 0.5, 0.98, 0.3][seed]).astype(np.uint8)
    rle = mask_utils.encode(np.asfortranarray(mask))
    counts = _compressed_rle_counts(rle['counts'])
    assert counts.sum() == mask.size
    assert counts[1::2].sum() == mask.sum() == mask_utils.area(rle)
    np.testing.assert_array_equal(counts, uncompressed_rle(mask)['counts'])
    assert check_segmentations([rle], [(37, 53)]) == [[]]


def test_broken_compressed_rle():
    mask = np.zeros((10, 10), dtype=np.uint8)
    mask[2:5, 3:8] = 1
    good = mask_utils.encode(np.asfortranarray(mask))['counts'].decode()
    cases = [
        dict(size=[10, 10], counts=good[:-1]),       # a number cut short or one too few
        dict(size=[10, 10], counts=good + '1'),      # one count too many
        dict(size=[10, 10], counts=good[:2] + ' ' + good[3:]),  # not in the alphabet
        dict(size=[10, 12], counts=good),
        dict(counts=good),
        dict(size=[10, 10], counts=[10, -5, 95]),
        dict(size=[10, 10], counts=[10.0, 90.0]),
    ]
    kinds = [issues[0][0] for issues in check_segmentations(cases, [(10, 10)] * len(cases))]
    assert kinds[0] in ('compressed RLE counts are not readable',
                        'RLE counts do not sum to height x width')
    assert kinds[1:] == [
        'RLE counts do not sum to height x width', 'compressed RLE counts are not readable',
        'RLE size is not the image size', 'RLE without size or counts',
        'RLE has a negative count',
        'RLE counts are neither a string nor a list of integers']


def test_polygon_checks_name_the_polygon_and_coordinate():
    segs = [
        [[1, 1, 9, 1, 9, 9]],                        # fine
        [[1, 1, 9, 1, 9, 9], [1, 1, 2, 'x', 3, 3]],  # a string
        [[1, 1, 9, 1, 9, None]],
        [[1, 1, 9, 1, 9, -2]],                       # within 25 % of the height: fine
        [[1, 1, 9, 1, 9, -3]],                       # y = -3 < -0.25 * 10
        [[1, 1, 13, 1, 9, 9]],                       # x = 13 > 1.25 * 10
        [[1, 1, [2, 3], 1, 9, 9]],                   # a nested list
        [[1, 1, 9, 1, 9]],
        'polygon',
        [[]],                                        # degenerate, not invalid
        [],
    ]
    issues = check_segmentations(segs, [(10, 10)] * len(segs))
    assert issues[0] == issues[3] == issues[9] == issues[10] == []
    assert issues[4] == [('polygon coordinate lies outside the image',
                          'polygon 0, coordinate 5 = -3; image 10 x 10 (HxW)')]
    assert issues[1] == [('polygon coordinate is not a number',
                          "polygon 1, coordinate 3 = 'x'")]
    assert issues[2] == [('polygon coordinate is not a number', 'polygon 0, coordinate 5 = None')]
    assert check_segmentations([[[1, 1, 9, 1, 9, None]]], [(10, 10)]) == [issues[2]]
    assert issues[5] == [('polygon coordinate lies outside the image',
                          'polygon 0, coordinate 2 = 13; image 10 x 10 (HxW)')]
    assert issues[6] == [('polygon coordinate is not a number',
                          'polygon 0, coordinate 2 = [2, 3]')]
    assert issues[7] == [('polygon has an odd number of coordinates', 'polygon 0 has 5')]
    assert issues[8] == [('segmentation is neither polygons nor RLE', 'str')]


def test_width_and_height_bound_x_and_y():
    """x is checked against the width, y against the height (a 10 x 100 image)."""
    segs = [[[90, 1, 99, 1, 99, 9]], [[1, 90, 9, 90, 9, 99]]]
    assert check_segmentations(segs, [(10, 100)] * 2) == [
        [], [('polygon coordinate lies outside the image',
              'polygon 0, coordinate 1 = 90; image 10 x 100 (HxW)')]]


def test_areas_as_decoded():
    mask = np.zeros((12, 16), dtype=np.uint8)
    mask[3:7, 2:9] = 1
    segs = [[[2, 2, 10, 2, 10, 8, 2, 8]], [[0, 0, 5, 5]], [], uncompressed_rle(mask),
            mask_utils.encode(np.asfortranarray(mask)),
            uncompressed_rle(np.zeros_like(mask))]
    areas = segmentation_areas(segs, [(12, 16)] * len(segs))
    assert areas[0] > 40 and list(areas[1:]) == [0, 0, 28, 28, 0]


@pytest.mark.parametrize('text,kind', [
    ('a dog', None), ('左边的人 🐻', None), (7, 'sentence is not a string'),
    ('', 'sentence is empty or blank'), ('\n', 'sentence is empty or blank'),
    ('a\ud800', 'sentence is not valid Unicode')])
def test_check_sentence(text, kind):
    issue = check_sentence(text)
    assert (issue and issue[0]) == kind


def test_decode_py2_strings():
    loaded = {b'sent': b'caf\xc3\xa9', b'raw': b'caf\xe9', b'ids': [1, (b'x', 2.5)], 3: None}
    assert decode_py2_strings(loaded) == {'sent': 'café', 'raw': 'café', 'ids': [1, ('x', 2.5)],
                                          3: None}
