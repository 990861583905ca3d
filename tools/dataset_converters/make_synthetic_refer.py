"""Generate the synthetic referring dataset (RefCOCO release format).

    python tools/dataset_converters/make_synthetic_refer.py --out data/synthetic_refer

Same options as ``python -m sgseg.datasets.synthetic --help``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sgseg.datasets.synthetic import main  # noqa: E402

if __name__ == '__main__':
    main()
