# Your own data: image-sentence pairs in a JSON-lines or CSV file (docs/dataset_prepare.md):
#   {"image": "photos/0001.jpg", "text": "the red mug on the left"}
#   {"image": "photos/0002.jpg", "texts": ["a dog", "the brown dog"], "mask": "masks/0002.png"}
# Paths are relative to data_root (or absolute). Training reads image + sentence only;
# evaluation needs a mask per row (PNG path, COCO RLE or polygons).
# Check a file before training: python tools/dataset_converters/image_text.py check FILE
dataset_type = 'ImageTextDataset'
data_root = 'data/my_data'
img_scale = (384, 384)

# Training never loads a mask: (image, sentence) pairs only.
# As the authors' preprocessing: a training image is first resized so that its longer
# side is 480 (aspect ratio kept), then squashed to 384 x 384; both steps anti-aliased
# (Pillow's bilinear filter; the authors' first step used scikit-image's Gaussian
# pre-filter, their second Pillow). No augmentation.
train_pipeline = [
    dict(type='LoadRefImage'),
    dict(type='Resize', scale=(480, 480), keep_ratio=True, backend='pillow'),
    dict(type='Resize', scale=img_scale, keep_ratio=False, backend='pillow'),
    dict(type='PackRefSegInputs'),
]
# The mask is decoded at the original size (gt_ref_mask), which Resize leaves alone:
# metrics are computed there.
test_pipeline = [
    dict(type='LoadRefImage'),
    dict(type='LoadRefMask'),
    # squashed straight to 384 x 384, anti-aliased (Pillow), as the authors evaluate
    dict(type='Resize', scale=img_scale, keep_ratio=False, backend='pillow'),
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
