# Table 4a: K_g x K_s = 6 x 6.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=6, slots_per_gaussian=6)))
# K_g and K_s together, also where one equals the base's (see sgseg.apis.ablations).
ablation_set_whole = ['model.entity_discovery.slot_initializer']
