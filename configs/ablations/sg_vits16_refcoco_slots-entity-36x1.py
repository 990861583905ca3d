# Table 4a: K_g x K_s = 36 x 1 (one slot per Gaussian, no interaction partner).
_base_ = ['../sg_vits16_refcoco.py']
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=36, slots_per_gaussian=1)))
