# Table 4a: K_g x K_s = 36 x 1 (one slot per Gaussian, no interaction partner).
_base_ = ['../sg_vits16_refcoco.py']
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=36, slots_per_gaussian=1)))
# K_g and K_s together, also where one equals the base's (see sgseg.apis.ablations).
ablation_set_whole = ['model.entity_discovery.slot_initializer']
