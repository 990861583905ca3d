"""The cross-rank gather of entities: values and gradients match one process, and so
does the whole training loss of the recipes' global batch split over two processes."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sgseg.models.segmentors.shatter_and_gather import gather_across_ranks
from tests.fixtures import free_port
from .tiny import TINY_MODEL, build_tiny, make_batch


def _worker(rank, world, port, entities, weights, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        b = entities.shape[0] // world
        mine = entities[rank * b:(rank + 1) * b].clone().requires_grad_(True)
        ids = torch.arange(rank * b, (rank + 1) * b)
        gathered, all_ids, offset = gather_across_ranks(mine, ids)
        # each rank's loss weighs the whole pool differently
        (gathered * weights[rank]).sum().backward()
        torch.save((rank, gathered.detach(), all_ids, offset, mine.grad),
                   os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_gather_matches_single_process_values_and_gradients(tmp_path):
    world, b = 2, 3
    entities = torch.randn(world * b, 4, 5)
    weights = torch.randn(world, world * b, 4, 5)
    mp.spawn(_worker, args=(world, free_port(), entities, weights, str(tmp_path)),
             nprocs=world)
    results = [torch.load(tmp_path / f'rank{r}.pt') for r in range(world)]
    # the gradient of the summed loss of all ranks, in one process
    full = entities.clone().requires_grad_(True)
    sum((full * weights[r]).sum() for r in range(world)).backward()
    for rank, gathered, all_ids, offset, grad in results:
        assert torch.equal(gathered, entities)
        assert torch.equal(all_ids, torch.arange(world * b))
        assert offset == rank * b
        torch.testing.assert_close(grad, full.grad[rank * b:(rank + 1) * b])


def test_gather_is_identity_without_a_process_group():
    x, ids = torch.randn(2, 3, 4), torch.tensor([5, 6])
    out, out_ids, offset = gather_across_ranks(x, ids)
    assert out is x and out_ids is ids and offset == 0


def _model_worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        model = _gather_model()
        batch = make_batch(32)
        per = 32 // world
        mine = dict(inputs=batch['inputs'][rank * per:(rank + 1) * per],
                    data_samples=batch['data_samples'][rank * per:(rank + 1) * per])
        losses = model.loss(**model.data_preprocessor(mine, training=True))
        sum(losses.values()).backward()
        grads = {}
        for name, p in model.named_parameters():
            if p.grad is not None:  # what DDP does: the mean over ranks
                dist.all_reduce(p.grad)
                grads[name] = p.grad / world
        torch.save(({k: v.detach() for k, v in losses.items()}, grads),
                   os.path.join(out_dir, f'model{rank}.pt'))
    finally:
        dist.destroy_process_group()


def _gather_model():
    """The tiny model, deterministic (query slots, no dropout), negatives gathered."""
    torch.manual_seed(0)
    bert = dict(TINY_MODEL['text_encoder']['config'], hidden_dropout_prob=0.,
                attention_probs_dropout_prob=0.)
    model = build_tiny(**{'entity_discovery.slot_initializer':
                          dict(type='QuerySlots', num_slots=6),
                          'text_encoder.config': bert,
                          'train_cfg': dict(gather_negatives=True)})
    return model.train()


def test_two_processes_of_16_with_gathered_negatives_equal_one_of_32(tmp_path):
    """The recipes' global batch: 2 x 16 with gathered negatives is the 1 x 32 loss,
    C^3 and reconstruction, and its gradients (DDP averages over ranks)."""
    world = 2
    mp.spawn(_model_worker, args=(world, free_port(), str(tmp_path)), nprocs=world)
    model = _gather_model()
    losses = model.loss(**model.data_preprocessor(make_batch(32), training=True))
    sum(losses.values()).backward()
    ranks = [torch.load(tmp_path / f'model{r}.pt') for r in range(world)]
    for key, value in losses.items():
        torch.testing.assert_close(sum(r[0][key] for r in ranks) / world, value.detach())
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert grads.keys() == ranks[0][1].keys() == ranks[1][1].keys()
    for name, grad in grads.items():
        torch.testing.assert_close(ranks[0][1][name], grad, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(ranks[1][1][name], grad, rtol=1e-4, atol=1e-6)
