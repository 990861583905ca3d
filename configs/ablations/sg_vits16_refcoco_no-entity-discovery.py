# Table 2a, "w/o entity discovery module": the text is fused with the 576 projected
# patch tokens directly (each patch an entity, A^slot the identity). The reconstruction
# loss decodes entities, so it goes too. No find_unused_parameters: the module and the
# decoder are not built, and every built layer gets a gradient.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(entity_discovery=None, recon_loss=None)
