# Image-caption corpora as WebDataset shards (docs/dataset_prepare.md): .tar files of
# <key>.jpg + <key>.txt and/or <key>.json, e.g. written by img2dataset. Training streams
# them (every shard read once per epoch across all ranks and workers, a seeded shuffle
# buffer, exact resume by default_runtime's StreamResumeHook); evaluation reads an image-text file with
# masks (configs/_base_/datasets/image_text.py).
# The stream never ends: train with an IterBasedTrainLoop and log by iteration, e.g.
#   train_cfg = dict(type='IterBasedTrainLoop', max_iters=..., val_interval=...)
#   log_processor = dict(by_epoch=False)
#   default_hooks = dict(logger=dict(log_metric_by_epoch=False),
#                        checkpoint=dict(by_epoch=False, interval=...))
# There must be at least (processes x num_workers) shards.
data_root = 'data/my_shards'
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
    # An IterableDataset splits its data itself: no sampler.
    sampler=None,
    dataset=dict(
        type='WebImageTextDataset',
        data_root=data_root,
        shards='shards',  # a folder of .tar, a glob or 'train-{000000..000099}.tar'
        # one sentence of the caption per sample ('caption': the whole caption;
        # 'texts': one of the .json's "texts", e.g. noun phrases extracted beforehand)
        text_source='sentence',
        shuffle_buffer=1000,
        seed=0,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ImageTextDataset',
        data_root=data_root,
        ann_file='val.jsonl',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='RefSegMetric')
test_evaluator = val_evaluator
