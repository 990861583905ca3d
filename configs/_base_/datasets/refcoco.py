# RefCOCO (refs(unc).p) over COCO train2014, refer-API layout (docs/dataset_prepare.md):
#   data/refcoco/{refs(unc).p,instances.json}, data/images/mscoco/images/train2014/
# mmdet-style layout instead: data_root='data/coco', ann_file='refcoco/refs(unc).p',
# instances_file='refcoco/instances.json', data_prefix=dict(img_path='train2014').
dataset_type = 'ReferDataset'
data_root = 'data/refcoco'
img_prefix = dict(img_path='../images/mscoco/images/train2014')
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
        ann_file='refs(unc).p',
        instances_file='instances.json',
        data_prefix=img_prefix,
        split='train',
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
        ann_file='refs(unc).p',
        instances_file='instances.json',
        data_prefix=img_prefix,
        split='val',
        test_mode=True,
        pipeline=test_pipeline))
# testA here; testB with --cfg-options test_dataloader.dataset.split=testB, both
# together with split=test.
test_dataloader = dict(
    val_dataloader, dataset=dict(val_dataloader['dataset'], split='testA'))

val_evaluator = dict(type='RefSegMetric')
test_evaluator = val_evaluator
