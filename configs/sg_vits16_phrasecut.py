# Shatter and Gather on PhraseCut, the paper's settings (Sec. 4.1): K = 60 slots
# (the only dataset with more than 36), K_s = 2, so 30 Gaussians x 2 slots.
_base_ = [
    '_base_/models/sg_vits16.py', '_base_/datasets/phrasecut.py',
    '_base_/schedules/schedule_50e.py', '_base_/default_runtime.py'
]
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=30, slots_per_gaussian=2)))
