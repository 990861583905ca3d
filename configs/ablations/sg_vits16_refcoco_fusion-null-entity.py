# sgseg's own: a learned key with a zero value joins the K entities in the fusion, so a
# head with nothing to read need not park its attention on the background entity.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(fusion_head=dict(null_entity=True))
