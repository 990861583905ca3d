# The embedded default (sg_vittiny_synthetic.py) with the paper recipes' reconstruction
# loss on: the spatial-broadcast decoder of _base_/models/sg_vits16.py (3 hidden layers of
# 512, learned row / column position embeddings, weight 1). It is the reference run for
# `recon_loss.sample_ratio`: the same config at 1.0 (the exact loss) and at smaller
# ratios, over several seeds, e.g.
#   python tools/train.py configs/sg_vittiny_synthetic_recon.py \
#       --work-dir work_dirs/recon_r0.25_s0 \
#       --cfg-options model.recon_loss.sample_ratio=0.25 randomness.seed=0
# (docs/benchmark.md, "to measure", lists the whole comparison).
_base_ = ['./sg_vittiny_synthetic.py']
model = dict(
    recon_loss=dict(
        _delete_=True,
        type='ReconstructionLoss',
        decoder=dict(type='SpatialBroadcastDecoder', hidden_dims=512, num_layers=3,
                     position_embedding='learned'),
        loss_weight=1.0,
        sample_ratio=1.0))
