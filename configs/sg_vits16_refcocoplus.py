# Shatter and Gather on RefCOCO+, the paper's settings (Sec. 4.1): as the RefCOCO recipe
# but K = 12 Gaussians x 3 slots (K_s = 3 for RefCOCO+ and G-Ref).
_base_ = [
    '_base_/models/sg_vits16.py', '_base_/datasets/refcocoplus.py',
    '_base_/schedules/schedule_50e.py', '_base_/default_runtime.py'
]
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=12, slots_per_gaussian=3)))
