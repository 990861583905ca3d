# Table 3: query slots (K learned embeddings, the same for every image), K = 36.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(_delete_=True, type='QuerySlots', num_slots=36,
                              init_style='authors')))
