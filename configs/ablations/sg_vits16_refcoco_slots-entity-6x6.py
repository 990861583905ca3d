# Table 4a: K_g x K_s = 6 x 6.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=6, slots_per_gaussian=6)))
