# Shatter and Gather on RefCOCO with the authors' released-script settings instead of
# the paper's text: 12 x 3 entity slots, lr 1e-5 (ViT x0.1), clip 0.1, AMP, loss
# warm-up over 5000 iterations (see _base_/schedules/schedule_50e_released.py).
_base_ = [
    '_base_/models/sg_vits16.py', '_base_/datasets/refcoco.py',
    '_base_/schedules/schedule_50e_released.py', '_base_/default_runtime.py'
]
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=12, slots_per_gaussian=3)))
