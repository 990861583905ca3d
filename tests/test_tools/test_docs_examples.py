"""Examples of the guides that name data or files: they must hold for what the code writes."""
import re

from mmengine.config import Config

from sgseg.datasets.synthetic import image_rng, matching_shapes, parse_sentence, render_scene
from .conftest import ROOT

# make_synthetic_refer's defaults (tools/run_demo.sh): seed 0, 128 px, 4000 train images
SEED, IMAGE_SIZE, NUM_TRAIN, NUM_VAL = 0, 128, 4000, 300


def test_inference_guide_sentences_describe_its_example_image():
    guide = (ROOT / 'docs' / 'user_guides' / 'inference.md').read_text()
    command = re.search(r'python tools/demo\.py data/synthetic_refer/images/synth_(\d+)\.jpg'
                        r'\s*\\\s*((?:"[^"]+"\s*)+)\\', guide)
    assert command, 'the guide has no demo command on a synthetic image'
    image_id = int(command.group(1))
    sentences = re.findall(r'"([^"]+)"', command.group(2))
    assert len(sentences) >= 2
    # an image of the val split: the demo shows an image the model was not trained on
    assert NUM_TRAIN < image_id <= NUM_TRAIN + NUM_VAL
    scene = render_scene(image_rng(SEED, image_id - 1), IMAGE_SIZE)
    targets = []
    for sentence in sentences:
        expr = parse_sentence(sentence)
        # exactly one shape fits, on the strict and on the loose reading alike
        strict = matching_shapes(expr, scene.shapes, slack=-1.)
        loose = matching_shapes(expr, scene.shapes, slack=1.)
        assert len(strict) == 1 and strict == loose, (sentence, scene.shapes)
        targets.append(strict[0])
    assert len(set(targets)) == len(targets)  # each sentence names another shape
    # the printed example line quotes the guide's first sentence
    assert f"'{sentences[0]}': " in guide
    # the shares of the image the guide gives for the targets are theirs
    shares = re.search(r'covers (\d+\.\d)% of the pixels and the \w+ (\d+\.\d)%', guide)
    assert shares, 'the guide gives no share of the image for its targets'
    for share, target in zip(shares.groups(), targets):
        assert float(share) == round(100 * scene.masks[target].mean(), 1)


def test_checkpoints_named_in_the_docs_are_written_by_their_schedule():
    named = []
    for doc in [ROOT / 'README.md', *ROOT.glob('docs/**/*.md'),
                *ROOT.glob('projects/*/README.md')]:
        for stem, kind, step in re.findall(r'work_dirs/([\w.-]+)/(iter|epoch)_(\d+)\.pth',
                                           doc.read_text()):
            configs = [*ROOT.glob(f'configs/**/{stem}.py'),
                       *ROOT.glob(f'projects/*/configs/{stem}.py')]
            if not configs:
                continue
            cfg = Config.fromfile(str(configs[0]))
            by_epoch = cfg.default_hooks.checkpoint.get('by_epoch', True)
            assert (kind == 'epoch') == by_epoch, (doc, stem, kind)
            length = cfg.train_cfg.get('max_epochs' if by_epoch else 'max_iters')
            interval = cfg.default_hooks.checkpoint.interval
            written = set(range(interval, length + 1, interval)) | {length}
            assert int(step) in written, (
                f'{doc.relative_to(ROOT)} names {kind}_{step}.pth; {stem} writes '
                f'{sorted(written)}')
            named.append(stem)
    assert 'sg_vittiny_synthetic_mixture-slots' in named
