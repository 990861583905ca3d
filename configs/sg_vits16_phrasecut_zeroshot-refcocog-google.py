# Zero-shot transfer (Table 1, G-Ref val): the PhraseCut recipe tested on G-Ref, Google
# partition val (the split of the paper's G-Ref column). Evaluate the PhraseCut checkpoint.
_base_ = ['./sg_vits16_phrasecut_zeroshot-refcoco.py']
test_dataloader = dict(dataset=dict(data_root='data/refcocog', ann_file='refs(google).p'))
