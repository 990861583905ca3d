# MaskCLIP on RefCOCO at the paper's sizes (ViT-S/16 at 384, BERT-base, D = 512),
# trained on the image-sentence pairs with the SaG recipes' schedule (50 epochs of a
# global batch of 32, AdamW 1e-5 with the ViT at x0.1, the loss ramp; the images of
# every process are the negatives): the "fine-tuned" MaskCLIP of Table 1 without CLIP
# weights. With a CLIP checkpoint, see docs/methods.md (HFCLIPVision / HFCLIPText).
_base_ = [
    '_base_/models/maskclip_vits16.py', '_base_/datasets/refcoco.py',
    '_base_/schedules/schedule_50e.py', '_base_/default_runtime.py'
]
