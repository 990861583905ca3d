# PhraseCut (VGPhraseCut v0) over Visual Genome images, the release's own layout:
#   data/VGPhraseCut_v0/{refer_train.json,refer_val.json,refer_test.json,
#                        image_data_split3000.json,images/<image_id>.jpg}
dataset_type = 'PhraseCutDataset'
data_root = 'data/VGPhraseCut_v0'
img_scale = (384, 384)

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
        ann_file='refer_train.json',
        image_info_file='image_data_split3000.json',
        data_prefix=dict(img_path='images'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='refer_val.json',
        image_info_file='image_data_split3000.json',
        data_prefix=dict(img_path='images'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader, dataset=dict(val_dataloader['dataset'], ann_file='refer_test.json'))

val_evaluator = dict(type='RefSegMetric')
test_evaluator = val_evaluator
