# Zero-shot transfer (Table 1, "Visual Genome (0.31M)", no fine-tuning): the PhraseCut
# recipe, tested on RefCOCO. Nothing is retrained: evaluate the PhraseCut checkpoint,
#   python tools/test.py configs/sg_vits16_phrasecut_zeroshot-refcoco.py PHRASECUT_CKPT
# (val here; testA / testB with --cfg-options test_dataloader.dataset.split=testA).
_base_ = ['./sg_vits16_phrasecut.py']
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ReferDataset',
        data_root='data/refcoco',
        ann_file='refs(unc).p',
        instances_file='instances.json',
        data_prefix=dict(img_path='../images/mscoco/images/train2014'),
        split='val',
        test_mode=True,
        pipeline={{_base_.test_pipeline}}))
