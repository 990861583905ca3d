# Zero-shot transfer (Table 1): the PhraseCut recipe tested on RefCOCO+ val (testA /
# testB through test_dataloader.dataset.split). Evaluate the PhraseCut checkpoint.
_base_ = ['./sg_vits16_phrasecut_zeroshot-refcoco.py']
test_dataloader = dict(dataset=dict(data_root='data/refcoco+'))
