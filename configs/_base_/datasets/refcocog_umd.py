# G-Ref, UMD partition (refs(umd).p: train / val / test) over COCO train2014:
#   data/refcocog/{refs(umd).p,instances.json}; images as for RefCOCO.
_base_ = ['./refcoco.py']

train_dataloader = dict(dataset=dict(data_root='data/refcocog', ann_file='refs(umd).p'))
val_dataloader = dict(dataset=dict(data_root='data/refcocog', ann_file='refs(umd).p'))
test_dataloader = dict(
    dataset=dict(data_root='data/refcocog', ann_file='refs(umd).p', split='test'))
