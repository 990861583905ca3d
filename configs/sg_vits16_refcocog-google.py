# Shatter and Gather on G-Ref, Google partition (val only; the split the authors'
# G-Ref numbers use), the paper's settings: K = 12 Gaussians x 3 slots.
_base_ = [
    '_base_/models/sg_vits16.py', '_base_/datasets/refcocog_google.py',
    '_base_/schedules/schedule_50e.py', '_base_/default_runtime.py'
]
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=12, slots_per_gaussian=3)))
