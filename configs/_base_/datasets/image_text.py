# Your own data: image-sentence pairs in a JSON-lines or CSV file (docs/dataset_prepare.md):
#   {"image": "photos/0001.jpg", "text": "the red mug on the left"}
#   {"image": "photos/0002.jpg", "texts": ["a dog", "the brown dog"], "mask": "masks/0002.png"}
# Paths are relative to data_root (or absolute). Training reads image + sentence only;
# evaluation needs a mask per row (PNG path, COCO RLE or polygons).
# Check a file before training: python tools/dataset_converters/image_text.py check FILE
dataset_type = 'ImageTextDataset'
data_root = 'data/my_data'
img_scale = (384, 384)

train_pipeline = [
    dict(type='LoadRefImage'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackRefSegInputs'),
]
test_pipeline = [
    dict(type='LoadRefImage'),
    dict(type='LoadRefMask'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackRefSegInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train.jsonl',
        train_sample='sentence',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='val.jsonl',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='RefSegMetric')
test_evaluator = val_evaluator
