"""split_summary: own val against the held-out splits, beside the baselines."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sgseg.evaluation.summary import split_rows

ROOT = Path(__file__).resolve().parents[2]


def _metrics(miou, n=10):
    return dict(mIoU=miou, cIoU=miou / 2, PointM=miou + 10, n=n)


def _results(own, whole, ellipse, key='fuse'):
    return {key: _metrics(own), 'min': _metrics(1.0), 'whole_image': _metrics(whole),
            'centre_ellipse': _metrics(ellipse)}


def test_rows_compare_each_split_with_the_reference():
    rows = split_rows({'val': _results(40., 4., 8.), 'heldout': _results(30., 5., 9.)})
    assert [r['split'] for r in rows] == ['val', 'heldout']
    assert rows[0]['x val'] == pytest.approx(1.0)
    assert rows[1]['x val'] == pytest.approx(0.75)
    assert rows[1]['mIoU'] == 30. and rows[1]['cIoU'] == 15. and rows[1]['PointM'] == 40.
    assert rows[1]['whole image mIoU'] == 5. and rows[1]['ellipse mIoU'] == 9.


def test_other_methods_are_read_from_their_own_row():
    rows = split_rows({'val': _results(20., 4., 8., key='own')})
    assert rows[0]['mIoU'] == 20.


def test_missing_reference_or_method_row_is_named():
    with pytest.raises(KeyError, match="no 'val' results"):
        split_rows({'heldout': _results(30., 5., 9.)})
    with pytest.raises(KeyError, match="split 'val' has neither"):
        split_rows({'val': {'whole_image': _metrics(4.)}})


def test_tool_prints_and_writes_the_table(tmp_path):
    files = []
    for name, own in (('val', 40.), ('heldout_scenes', 36.)):
        path = tmp_path / f'{name}.json'
        path.write_text(json.dumps(_results(own, 4., 8.)))
        files.append(f'{name}={path}')
    out = tmp_path / 'splits.md'
    proc = subprocess.run([sys.executable, 'tools/analysis_tools/split_summary.py', *files,
                           '--out', str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'heldout_scenes' in proc.stdout and '0.90' in proc.stdout
    assert 'heldout_scenes' in out.read_text()
    bad = subprocess.run([sys.executable, 'tools/analysis_tools/split_summary.py',
                          f'val={tmp_path / "none.json"}'], cwd=ROOT, capture_output=True,
                         text=True)
    assert bad.returncode != 0 and 'val: no such file' in bad.stderr
