# The embedded default with RandomFlipRefer on: half of the training images mirrored,
# their sentences' left/right words swapped (docs/notes/augmentation.md).
_base_ = ['./sg_vittiny_synthetic.py']
train_pipeline = [
    dict(type='LoadRefImage'),
    dict(type='Resize', scale=(128, 128), keep_ratio=False),
    dict(type='RandomFlipRefer', prob=0.5),
    dict(type='PackRefSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
