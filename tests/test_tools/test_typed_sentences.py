"""tools/analysis_tools/typed_sentences.py on a tiny model and a tiny generated dataset."""
import json

import pytest
import torch

from sgseg.datasets import synthetic
from tests.test_apis.test_inferencer import CONFIG
from tests.test_models.tiny import IMG, TINY_MODEL, build_tiny
from tests.test_tools.conftest import load_tool

TOOL = 'tools/analysis_tools/typed_sentences.py'


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('typed')
    synthetic.make_synthetic_refer(root / 'data', num_train_images=2, num_val_images=12,
                                   num_test_images=1, num_heldout_images=1,
                                   num_heldout_scenes_images=1, image_size=64, seed=5,
                                   num_fn_batches=1)
    config = root / 'tiny.py'
    config.write_text(CONFIG.format(model=TINY_MODEL, img=IMG))
    torch.manual_seed(0)
    torch.save({'state_dict': build_tiny().state_dict(), 'meta': {}}, root / 'tiny.pth')
    return root


def test_counts_the_images_where_each_sentence_names_one_shape(files):
    tool = load_tool(TOOL)
    out = files / 'typed.md'
    ious = tool.main([str(files / 'tiny.py'), str(files / 'tiny.pth'), '--data',
                      str(files / 'data'), '--out', str(out)])
    scenes = [scene for _, scene in tool.load_scenes(str(files / 'data'), 'val')]
    assert len(scenes) == 12
    for sent, expr in tool.TYPED.items():
        expected = sum(any(synthetic.identifies(expr, s.shapes, i)
                           for i in range(len(s.shapes))) for s in scenes)
        assert len(ious[sent]) == expected, sent
        assert all(0.0 <= v <= 1.0 for v in ious[sent])
    # some sentence applies somewhere, and the table has a row per sentence
    assert sum(len(v) for v in ious.values()) > 0
    rows = out.read_text().strip().splitlines()
    assert len(rows) == 2 + len(tool.TYPED) and rows[2].startswith('| the leftmost one | ')
    # DenseCRF: the same images, refined masks
    pytest.importorskip('pydensecrf.densecrf')
    refined = tool.main([str(files / 'tiny.py'), str(files / 'tiny.pth'), '--data',
                         str(files / 'data'), '--crf'])
    assert {k: len(v) for k, v in refined.items()} == {k: len(v) for k, v in ious.items()}
    assert refined != ious


def test_refuses_what_it_cannot_check(files, tmp_path):
    tool = load_tool(TOOL)
    base = [str(files / 'tiny.py'), str(files / 'tiny.pth')]
    with pytest.raises(SystemExit):
        tool.parse_args(base + ['--sentences', 'the purple elephant'])
    old = tmp_path / 'old'
    old.mkdir()
    stats = json.loads((files / 'data' / 'stats.json').read_text())
    (old / 'stats.json').write_text(json.dumps(dict(stats, generator_version='2.4.0')))
    with pytest.raises(SystemExit, match='generator 2.4.0'):
        list(tool.load_scenes(str(old), 'val'))
    with pytest.raises(SystemExit, match="no image in split 'nope'"):
        list(tool.load_scenes(str(files / 'data'), 'nope'))
