# Table 2a, "w/o interaction block": slots only aggregate (no self-attention
# among the slots of one Gaussian). The block is not built: no unused layer.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(entity_discovery=dict(use_interaction=False))
