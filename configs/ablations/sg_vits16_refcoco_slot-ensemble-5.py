# sgseg's own, test time only: average the score map over 5 slot draws (the entity
# slots are resampled at every forward). Training is the recipe's: evaluate its
# checkpoint with this config.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(test_cfg=dict(num_slot_samples=5))
