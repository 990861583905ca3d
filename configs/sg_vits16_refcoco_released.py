# Shatter and Gather on RefCOCO exactly as the authors' released script
# (train_eval_unc.sh) trains it: the RefCOCO recipe (configs/sg_vits16_refcoco.py, same
# schedule and code details) with the scripts' 12 x 3 entity slots, which every script
# uses, instead of the paper's 18 x 2 for RefCOCO. The paper reports no number for it.
_base_ = ['./sg_vits16_refcoco.py']
model = dict(
    entity_discovery=dict(
        slot_initializer=dict(type='EntitySlots', num_gaussians=12, slots_per_gaussian=3)))
