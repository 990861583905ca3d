# Table A2: T = 2 iterations of the entity discovery module (the recipe: 6).
_base_ = ['../sg_vits16_refcoco.py']
model = dict(entity_discovery=dict(num_iters=2))
