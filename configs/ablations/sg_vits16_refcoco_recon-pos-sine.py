# sgseg's own: the reconstruction decoder's position embedding is sinusoidal, as the
# paper's appendix C writes (the recipe uses the authors' learned row/column
# embeddings, which are then not built).
_base_ = ['../sg_vits16_refcoco.py']
model = dict(recon_loss=dict(decoder=dict(position_embedding='sine')))
