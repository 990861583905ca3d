"""Generate the synthetic referring dataset (RefCOCO release format by default).

    python tools/dataset_converters/make_synthetic_refer.py --out data/synthetic_refer
    # the same data as image-text files, or as WebDataset shards (docs/dataset_prepare.md)
    python tools/dataset_converters/make_synthetic_refer.py --format jsonl --out data/synthetic_jsonl
    python tools/dataset_converters/make_synthetic_refer.py --format wds --out data/synthetic_wds

Same options as ``python -m sgseg.datasets.synthetic --help``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from sgseg.datasets.synthetic import main  # noqa: E402

if __name__ == '__main__':
    main()
