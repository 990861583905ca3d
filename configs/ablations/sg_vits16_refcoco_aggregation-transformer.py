# Table 2a, "aggregation block w/ transformer": the aggregation attention is
# normalised over patches (plain cross-attention) instead of over slots.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(entity_discovery=dict(aggregation='transformer'))
