# Table 3: entity slots, K = 12; K_s = 2 as in the recipe (the paper gives K only).
_base_ = ['../sg_vits16_refcoco.py']
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=6, slots_per_gaussian=2)))
# K_g and K_s together, also where one equals the base's (see sgseg.apis.ablations).
ablation_set_whole = ['model.entity_discovery.slot_initializer']
