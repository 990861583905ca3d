# Shatter and Gather on G-Ref, Google partition (val only; the split of the paper's
# G-Ref column, 28.87 mIoU, and of the authors' scripts): the RefCOCO recipe (see
# configs/sg_vits16_refcoco.py) with the paper's K_s = 3 for G-Ref: 12 Gaussians x 3.
_base_ = [
    '_base_/models/sg_vits16.py', '_base_/datasets/refcocog_google.py',
    '_base_/schedules/schedule_50e.py', '_base_/default_runtime.py'
]
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=12, slots_per_gaussian=3)))
