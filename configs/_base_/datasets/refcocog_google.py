# G-Ref, Google partition (refs(google).p: train / val, no test) over COCO train2014:
#   data/refcocog/{refs(google).p,instances.json}; images as for RefCOCO.
_base_ = ['./refcoco.py']

train_dataloader = dict(dataset=dict(data_root='data/refcocog', ann_file='refs(google).p'))
val_dataloader = dict(dataset=dict(data_root='data/refcocog', ann_file='refs(google).p'))
test_dataloader = dict(
    dataset=dict(data_root='data/refcocog', ann_file='refs(google).p', split='val'))
