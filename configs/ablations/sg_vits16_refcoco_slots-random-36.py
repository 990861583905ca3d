# Table 3: random slots (K slots drawn from one learned Gaussian), K = 36.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(_delete_=True, type='RandomSlots', num_slots=36,
                              init_style='authors')))
