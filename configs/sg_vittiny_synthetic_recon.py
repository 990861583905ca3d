# The embedded default (sg_vittiny_synthetic.py) with the reconstruction loss on: the
# paper recipes' spatial-broadcast decoder (3 hidden layers, learned row / column
# position embeddings, weight 1) with its width scaled as the recipes scale it, equal to
# D (512 there, 128 here; the recipes' 512 would cost ~30x this tiny ViT's training step).
# It is the reference run for `recon_loss.sample_ratio`: the same config at 1.0 (the exact
# loss) and at smaller ratios, over several seeds, e.g.
#   python tools/train.py configs/sg_vittiny_synthetic_recon.py \
#       --work-dir work_dirs/recon_r0.25_s0 \
#       --cfg-options model.recon_loss.sample_ratio=0.25 randomness.seed=0
# (docs/benchmark.md, "Sampled reconstruction", has the whole comparison and its results).
_base_ = ['./sg_vittiny_synthetic.py']
model = dict(
    recon_loss=dict(
        _delete_=True,
        type='ReconstructionLoss',
        decoder=dict(type='SpatialBroadcastDecoder', hidden_dims=128, num_layers=3,
                     position_embedding='learned'),
        loss_weight=1.0,
        sample_ratio=1.0))
