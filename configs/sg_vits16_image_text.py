# Shatter and Gather with the RefCOCO recipe (configs/sg_vits16_refcoco.py: the paper's
# model and the authors' released schedule) on your own image-text files
# (docs/dataset_prepare.md, "Your own data"): data/my_data/train.jsonl to train,
# data/my_data/val.jsonl (with masks) to evaluate. Point it at your files with, e.g.,
#   --cfg-options train_dataloader.dataset.data_root=data/mine \
#       train_dataloader.dataset.ann_file=train.csv \
#       val_dataloader.dataset.data_root=data/mine val_dataloader.dataset.ann_file=val.csv
_base_ = [
    '_base_/models/sg_vits16.py', '_base_/datasets/image_text.py',
    '_base_/schedules/schedule_50e.py', '_base_/default_runtime.py'
]
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=18, slots_per_gaussian=2)))
