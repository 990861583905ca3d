# Table 2b, "w/o modality fusion module and C^3 loss": the image embedding is the
# mean of its entities, matched to x^T by a CLIP-style image-text contrastive loss;
# at test time A^fuse is the softmax over entities of their cosine to x^T. No
# find_unused_parameters: the fusion head is not built, and the loss's temperature,
# the entity discovery module and the decoder all receive gradients.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(fusion_head=None, c3_loss=None, itc_loss=dict(type='PooledContrastiveLoss'))
