# The embedded default (sg_vittiny_synthetic.py) trained from WebDataset shards: the same
# synthetic images, one sample per image with one of its sentences drawn, written by
#   python tools/dataset_converters/make_synthetic_refer.py --format wds --out data/synthetic_wds
# (16 shards of 250 images, val.jsonl for evaluation). Two CPU processes:
#   bash tools/dist_train.sh configs/sg_vittiny_synthetic_wds.py 2
_base_ = ['./sg_vittiny_synthetic.py']
data_root = 'data/synthetic_wds'

train_dataloader = dict(
    num_workers=2,
    sampler=None,
    dataset=dict(
        _delete_=True,
        type='WebImageTextDataset',
        data_root=data_root,
        shards='shards',
        text_source='sentence',
        shuffle_buffer=1000,
        seed=0,
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(
    _delete_=True,
    type='ImageTextDataset',
    data_root=data_root,
    ann_file='val.jsonl',
    test_mode=True,
    pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
