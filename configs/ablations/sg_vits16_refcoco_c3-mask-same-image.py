# sgseg's own: in C^3, a second sentence of the same image in the batch is a false
# negative; mask it out of the denominator (the paper's code keeps it as a negative).
_base_ = ['../sg_vits16_refcoco.py']
model = dict(c3_loss=dict(mask_same_image=True))
