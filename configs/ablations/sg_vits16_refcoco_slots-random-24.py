# Table 3: random slots (K slots drawn from one learned Gaussian), K = 24.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(_delete_=True, type='RandomSlots', num_slots=24,
                              init_style='authors')))
