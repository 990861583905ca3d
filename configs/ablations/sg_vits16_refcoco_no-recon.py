# Table 2a, "w/o reconstruction loss": C^3 only. No find_unused_parameters: with
# recon_loss=None the decoder is not built at all.
_base_ = ['../sg_vits16_refcoco.py']
model = dict(recon_loss=None)
