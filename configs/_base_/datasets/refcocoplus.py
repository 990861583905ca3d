# RefCOCO+ (refs(unc).p, no absolute-location words) over COCO train2014:
#   data/refcoco+/{refs(unc).p,instances.json}; images as for RefCOCO.
_base_ = ['./refcoco.py']

train_dataloader = dict(dataset=dict(data_root='data/refcoco+'))
val_dataloader = dict(dataset=dict(data_root='data/refcoco+'))
test_dataloader = dict(dataset=dict(data_root='data/refcoco+'))
