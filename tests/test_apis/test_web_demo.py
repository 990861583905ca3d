"""The web demo: its input checks, and the page itself driven in headless Chromium."""
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sgseg.apis import DemoInputError, RefSegInferencer, WebDemo, load_examples
from sgseg.datasets.synthetic import image_rng, matching_shapes, parse_sentence, render_scene
from tests.fixtures import free_port
from tests.test_apis.test_inferencer import CONFIG
from tests.test_models.tiny import IMG, TINY_MODEL, build_tiny

EXAMPLES = Path(__file__).resolve().parents[2] / 'demo' / 'examples'
# Mean-pooled, the untrained text encoder's features of two sentences differ enough for
# the (seeded) random model to give them different masks; its [CLS] token barely does.
MODEL = dict(TINY_MODEL, text_pooling='mean')
SENTENCES = ['the large red circle', 'the small striped blue star on the left']


@pytest.fixture(scope='module')
def tiny_files(tmp_path_factory):
    """A tiny config and a checkpoint of a tiny (untrained) model."""
    root = tmp_path_factory.mktemp('web_demo')
    config = root / 'tiny.py'
    config.write_text(CONFIG.format(model=MODEL, img=IMG))
    torch.manual_seed(0)
    checkpoint = root / 'tiny.pth'
    torch.save({'state_dict': build_tiny(text_pooling='mean').state_dict(), 'meta': {}},
               checkpoint)
    return dict(config=str(config), checkpoint=str(checkpoint), root=root)


@pytest.fixture(scope='module')
def demo(tiny_files):
    inferencer = RefSegInferencer(tiny_files['config'], tiny_files['checkpoint'])
    return WebDemo(inferencer, load_examples(str(EXAMPLES)),
                   out_dir=str(tiny_files['root'] / 'masks'))


def test_bundled_examples_are_val_scenes_their_sentences_describe():
    examples = load_examples(str(EXAMPLES))
    sources = dict(re.findall(r'\| (shapes_\d+\.png) \| synth_(\d+)\.jpg \|',
                              (EXAMPLES / 'README.md').read_text()))
    assert 2 <= len(examples) <= 3 and len(sources) == len(examples)
    for image, text in examples:
        image_id = int(sources[Path(image).name])
        assert 4000 < image_id <= 4300, image  # the val split of make_synthetic_refer
        scene = render_scene(image_rng(0, image_id - 1), 128)
        assert np.array_equal(cv2.imread(image), scene.image), image
        sentences = text.splitlines()
        targets = []
        for sentence in sentences:
            expr = parse_sentence(sentence)
            strict = matching_shapes(expr, scene.shapes, slack=-1.)
            assert len(strict) == 1 and strict == matching_shapes(expr, scene.shapes, slack=1.), \
                (image, sentence)
            targets.append(strict[0])
        assert len(set(targets)) == len(targets) >= 2, image  # each names another shape


def test_bad_input_gives_a_message(demo, tiny_files, tmp_path):
    image = load_examples(str(EXAMPLES))[0][0]
    with pytest.raises(DemoInputError, match='Upload an image'):
        demo.segment(None, 'the red circle')
    with pytest.raises(DemoInputError, match='Type a sentence'):
        demo.segment(image, ' \n  \n')
    with pytest.raises(DemoInputError, match='at most 6'):
        demo.segment(image, '\n'.join(['the red circle'] * 7))
    not_an_image = tmp_path / 'notes.png'
    not_an_image.write_text('not an image')
    with pytest.raises(DemoInputError, match='notes.png is not an image'):
        demo.segment(str(not_an_image), 'the red circle')
    small = WebDemo(demo.inferencer, max_pixels=100 * 100)
    with pytest.raises(DemoInputError, match=r'128 x 128 pixels .* at most 0\.0 MP'):
        small.segment(image, 'the red circle')
    with pytest.raises(DemoInputError, match='inference scheme'):
        demo.segment(image, 'the red circle', scheme='median')


def test_request_options_apply_and_are_restored(demo):
    image = load_examples(str(EXAMPLES))[0][0]
    test_cfg = dict(demo.inferencer.model.test_cfg)
    low = demo.segment(image, SENTENCES[0], threshold=0.1)[0].mask
    high = demo.segment(image, SENTENCES[0], threshold=0.9)[0].mask
    assert low.sum() > high.sum() and not (high & ~low).any()
    assert demo.inferencer.model.test_cfg == test_cfg and demo.inferencer.seed == 0
    seeds = [demo.segment(image, SENTENCES[0], seed=s)[0].entities for s in (0, 1, 0)]
    assert np.array_equal(seeds[0], seeds[2]) and not np.array_equal(seeds[0], seeds[1])


def test_the_crf_switch_takes_the_config_s_dense_crf_settings(tiny_files, tmp_path):
    pytest.importorskip('pydensecrf.densecrf')
    config = tmp_path / 'tiny_crf.py'
    config.write_text(Path(tiny_files['config']).read_text() +
                      "dense_crf = dict(type='DenseCRF', bilateral_srgb=30.)\n")
    examples = load_examples(str(EXAMPLES))
    demo = WebDemo(RefSegInferencer(str(config), tiny_files['checkpoint']), examples,
                   out_dir=str(tmp_path / 'masks'))
    assert not demo.default_crf and demo.resolve_crf(False) is None
    assert demo.resolve_crf(True).bilateral_srgb == 30.
    plain, refined = (demo.segment(examples[0][0], SENTENCES[0], crf=crf)[0].mask
                      for crf in (False, True))
    assert plain.shape == refined.shape and demo.inferencer.crf is None


def test_the_page_in_a_browser(demo, tiny_files, tmp_path):
    """Upload, two sentences, Segment: two masks back, equal to RefSegInferencer's."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    assert chromium, 'the system chromium is missing: tools/install.sh installs it'
    image = load_examples(str(EXAMPLES))[0][0]
    expected = RefSegInferencer(tiny_files['config'], tiny_files['checkpoint'])(
        image, SENTENCES)

    port = int(free_port())
    app = demo.build_app()
    app.launch(server_name='127.0.0.1', server_port=port, prevent_thread_lock=True,
               quiet=True)
    screenshot = tmp_path / 'web_demo.png'
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=['--no-sandbox'])
            page = browser.new_page(viewport=dict(width=1400, height=1000))
            page.goto(f'http://127.0.0.1:{port}/', wait_until='domcontentloaded')
            status = page.locator('#status textarea')

            # pressing with no image is answered in the page
            page.locator('#segment').click()
            page.wait_for_function(
                "() => document.querySelector('#status textarea').value.includes('Upload')")

            page.locator('#image input[type=file]').set_input_files(image)
            page.locator('#sentences textarea').fill('\n'.join(SENTENCES))
            page.locator('#segment').click()
            page.wait_for_function(
                "() => document.querySelector('#status textarea').value.includes('2 sentence')",
                timeout=30000)
            links = page.locator('#masks a[download]')
            links.nth(1).wait_for()
            page.locator('#entities-1 img').wait_for()
            masks = {}
            for i in range(links.count()):
                href = links.nth(i).get_attribute('href')
                body = page.request.get(href).body()
                name = Path(href.split('?')[0]).name
                masks[name] = cv2.imdecode(np.frombuffer(body, np.uint8),
                                           cv2.IMREAD_GRAYSCALE) > 127
            assert page.locator('#sentence-2').is_hidden()
            page.screenshot(path=str(screenshot), full_page=True)
            print(f'web demo screenshot: {screenshot}')
            status_text = status.input_value()
            browser.close()
    finally:
        app.close()

    assert '2 sentence' in status_text
    names = sorted(masks)
    assert len(names) == 2 and names[0].startswith('mask_1_') and \
        names[1].startswith('mask_2_'), names
    got = [masks[n] for n in names]
    assert not np.array_equal(got[0], got[1]), 'the two sentences got the same mask'
    for mask, pred in zip(got, expected):
        assert mask.shape == pred.mask.shape
        assert np.array_equal(mask, pred.mask), pred.text
