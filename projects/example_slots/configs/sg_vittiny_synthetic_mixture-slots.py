_base_ = ['../../../configs/sg_vittiny_synthetic.py']
custom_imports = dict(imports=['projects.example_slots.slots'], allow_failed_imports=False)
model = dict(entity_discovery=dict(slot_initializer=dict(
    _delete_=True, type='MixtureSlots', num_slots=8, num_components=4)))
