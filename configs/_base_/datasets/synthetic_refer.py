# The embedded synthetic referring dataset, written in the RefCOCO release format
# (instances.json + refs(unc).p + images/) by
#   python tools/dataset_converters/make_synthetic_refer.py --out data/synthetic_refer
# so it is read by the very same ReferDataset as RefCOCO.
dataset_type = 'ReferDataset'
data_root = 'data/synthetic_refer'
img_prefix = dict(img_path='images')
img_scale = (128, 128)

# RandomFlipRefer (docs/notes/augmentation.md) mirrors the image and swaps left/right in
# the sentence; off here (prob=0.: nothing drawn, the sample unchanged). On with
#   --cfg-options train_dataloader.dataset.pipeline.2.prob=0.5
# or configs/sg_vittiny_synthetic_flip.py.
# Training images are decoded once per process and kept (4000 x 48 KB = 188 MB): decoding
# was most of what the data worker does each step, on the cores the step runs on.
train_pipeline = [
    dict(type='LoadRefImage', cache_mb=512),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlipRefer', prob=0.),
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
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='refs(unc).p',
        data_prefix=img_prefix,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='refs(unc).p',
        data_prefix=img_prefix,
        split='val',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='RefSegMetric')
test_evaluator = val_evaluator
