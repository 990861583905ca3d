"""The user's path end to end: tools/train.py, --resume, tools/test.py, the demo tools."""
import json
import re

from sgseg.visualization import read_scalars
from .conftest import run_tool, write_tiny_config


def test_train_checkpoint_resume_and_test(tmp_path, tiny_synthetic):
    config = write_tiny_config(tmp_path / 'tiny.py', tiny_synthetic, max_iters=30)
    work = tmp_path / 'work'
    # first 15 iterations (the config says 30: stop early through cfg-options)
    run_tool('tools/train.py', str(config), '--work-dir', str(work), '--cfg-options',
             'train_cfg.max_iters=15', 'train_cfg.val_interval=100')
    assert (work / 'iter_15.pth').is_file()
    run_tool('tools/train.py', str(config), '--work-dir', str(work), '--resume')
    assert (work / 'iter_30.pth').is_file()
    losses = [v for _, v in read_scalars(str(work))['loss']]
    assert len(losses) >= 3 and losses[-1] < losses[0]

    out = tmp_path / 'results.jsonl'
    proc = run_tool('tools/test.py', str(config), str(work / 'iter_30.pth'), '--work-dir',
                    str(work), '--out', str(out), '--show-dir', str(tmp_path / 'show'))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    refs = __import__('pickle').load(open(tiny_synthetic / 'refs(unc).p', 'rb'))
    n_val = sum(len(r['sentences']) for r in refs if r['split'] == 'val')
    assert len(lines) == n_val and {'sent_id', 'iou', 'pointm_hit'} <= set(lines[0])
    assert len(list((tmp_path / 'show').glob('*.png'))) == n_val
    assert 'mIoU' in proc.stdout + proc.stderr and 'DenseCRF off' in proc.stdout + proc.stderr

    # the same seed reproduces the per-sentence results exactly
    out2 = tmp_path / 'again.jsonl'
    run_tool('tools/test.py', str(config), str(work / 'iter_30.pth'), '--work-dir', str(work),
             '--out', str(out2))
    assert out2.read_text() == out.read_text()

    run_tool('tools/analysis_tools/plot_curves.py', str(work), '--out', str(tmp_path / 'c.png'))
    assert (tmp_path / 'c.png').stat().st_size > 1000
    table = tmp_path / 'schemes.md'
    proc = run_tool('tools/analysis_tools/eval_schemes.py', str(config),
                    str(work / 'iter_30.pth'), '--work-dir', str(work), '--out', str(table),
                    '--size-bins', '0.02', '0.05')
    # its progress is logged, in a pipe too
    assert re.search(r'evaluating schemes: (\d+)/\1 batches \(100%\)', proc.stdout + proc.stderr)
    text = table.read_text()
    for name in ('fuse', 'max', 'avg', 'min', 'whole_image', 'centre_ellipse'):
        assert f'| {name} |' in text
    fuse_row = next(row for row in text.splitlines() if row.startswith('| fuse |'))
    fuse_miou = float(fuse_row.split('|')[2])
    test_miou = sum(r['iou'] for r in lines) / len(lines) * 100
    assert abs(fuse_miou - test_miou) < 0.006  # the table rounds to 2 decimals
    # by target size: the bins partition the samples; their fuse mIoU averages back
    size_part = text.split('mIoU by target size')[1]
    size_rows = [r.split('|') for r in size_part.splitlines() if r.startswith('| ')][1:]
    assert {r[1].strip() for r in size_rows} <= {'< 2%', '2%-5%', '>= 5%'}
    header = [c.strip() for c in size_part.splitlines()[2].split('|')]
    n_col, fuse_col = header.index('n'), header.index('fuse')
    counts = [int(r[n_col]) for r in size_rows]
    assert sum(counts) == n_val
    weighted = sum(c * float(r[fuse_col]) for c, r in zip(counts, size_rows)) / n_val
    assert abs(weighted - test_miou) < 0.01

    families = tmp_path / 'families.md'
    run_tool('tools/analysis_tools/results_by_family.py', str(out), '--out', str(families))
    all_row = next(r for r in families.read_text().splitlines() if r.startswith('| all |'))
    assert int(all_row.split('|')[2]) == n_val
    assert abs(float(all_row.split('|')[3]) - test_miou) < 0.006
