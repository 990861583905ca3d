# sgseg's own: the fusion layer without the x^T + residual, so z is built from the
# attended entities alone (the text can no longer pass through unchanged).
_base_ = ['../sg_vits16_refcoco.py']
model = dict(fusion_head=dict(text_residual=False))
