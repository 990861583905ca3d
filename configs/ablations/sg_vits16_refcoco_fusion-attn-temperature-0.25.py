# sgseg's own: the fusion's attention logits over the entities divided by 0.25, a
# sharper A^fuse from the first iteration.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(fusion_head=dict(attn_temperature=0.25))
