# The embedded default (sg_vittiny_synthetic.py) trained from image-text files: the same
# synthetic data written as JSON lines by
#   python tools/dataset_converters/make_synthetic_refer.py --format jsonl \
#       --out data/synthetic_jsonl
# Point it at your own data with --cfg-options (docs/dataset_prepare.md).
_base_ = ['./sg_vittiny_synthetic.py']
data_root = 'data/synthetic_jsonl'

train_dataloader = dict(dataset=dict(
    _delete_=True,
    type='ImageTextDataset',
    data_root=data_root,
    ann_file='train.jsonl',
    pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(
    _delete_=True,
    type='ImageTextDataset',
    data_root=data_root,
    ann_file='val.jsonl',
    test_mode=True,
    pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
