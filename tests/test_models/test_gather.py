"""The cross-rank gather of entities: values and gradients match one process."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sgseg.models.segmentors.shatter_and_gather import gather_across_ranks
from tests.fixtures import free_port


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
