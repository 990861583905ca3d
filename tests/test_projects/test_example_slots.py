"""projects/example_slots: a slot initializer added through custom_imports only."""

import torch
from mmengine.config import Config

from sgseg.registry import SLOT_INITIALIZERS
from sgseg.visualization import read_scalars
from tests.test_tools.conftest import (ROOT, run_tool, tiny_synthetic,  # noqa: F401
                                       write_tiny_config)

PLUGIN_CONFIG = ROOT / 'projects/example_slots/configs/sg_vittiny_synthetic_mixture-slots.py'
BASE_CONFIG = ROOT / 'configs/sg_vittiny_synthetic.py'


def build_mixture(**overrides):
    """MixtureSlots built from the plugin config (its custom_imports register it)."""
    cfg = Config.fromfile(str(PLUGIN_CONFIG))
    return SLOT_INITIALIZERS.build(dict(cfg.model.entity_discovery.slot_initializer,
                                        embed_dims=16, **overrides))


def generators(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_the_config_changes_only_the_slot_initializer():
    plugin, base = Config.fromfile(str(PLUGIN_CONFIG)), Config.fromfile(str(BASE_CONFIG))
    slots = plugin.model.entity_discovery.pop('slot_initializer')
    base.model.entity_discovery.pop('slot_initializer')
    assert slots == dict(type='MixtureSlots', num_slots=8, num_components=4)
    assert plugin.model == base.model
    assert plugin.custom_imports.imports == ['projects.example_slots.slots']


def test_shapes_and_seeding():
    slots = build_mixture()
    assert type(slots).__name__ == 'MixtureSlots' and slots.group_size == slots.num_slots == 8
    out = slots(3, generators(0, 1, 0))
    assert out.shape == (3, 8, 16)
    assert torch.equal(out[0], out[2]) and not torch.allclose(out[0], out[1])
    # a sample's slots depend on its generator only, not on the rest of the batch
    assert torch.equal(slots(1, generators(1))[0], out[1])
    torch.manual_seed(0)
    a = slots(2)
    torch.manual_seed(0)
    assert torch.equal(a, slots(2))


def test_slots_come_from_the_chosen_components():
    slots = build_mixture(num_slots=64)
    with torch.no_grad():
        slots.log_std.fill_(-20.)  # no noise: every slot is exactly a component mean
        slots.mixture_logits.copy_(torch.tensor([0., 0., 4., -30.]))
    out = slots(4, generators(0, 1, 2, 3)).reshape(-1, 16)
    component = torch.cdist(out, slots.mu).argmin(-1)
    assert torch.allclose(out, slots.mu[component], atol=1e-6)
    counts = torch.bincount(component, minlength=4)
    assert counts[3] == 0 and counts[2] > 0.8 * len(out) and counts[:2].sum() > 0


def test_every_parameter_gets_a_gradient():
    slots = build_mixture()
    target = torch.randn(2, 8, 16)
    ((slots(2, generators(0, 1)) - target)**2).sum().backward()
    for name, param in slots.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_train_with_the_plugin_config(tmp_path, tiny_synthetic):  # noqa: F811
    tiny = write_tiny_config(tmp_path / 'tiny.py', tiny_synthetic, max_iters=6,
                             ckpt_interval=6)
    plugin = Config.fromfile(str(PLUGIN_CONFIG))
    # the tiny sizes of the tool tests, with this project's import and slot key
    variant = tmp_path / 'tiny_mixture.py'
    variant.write_text(
        f"_base_ = ['{tiny}']\n"
        f'custom_imports = {plugin.custom_imports.to_dict()!r}\n'
        'model = dict(entity_discovery=dict(slot_initializer=dict(_delete_=True, '
        f'**{plugin.model.entity_discovery.slot_initializer.to_dict()!r})))\n')
    work = tmp_path / 'work'
    run_tool('tools/train.py', str(variant), '--work-dir', str(work))
    assert (work / 'iter_6.pth').is_file()
    state = torch.load(work / 'iter_6.pth', map_location='cpu', weights_only=False)['state_dict']
    # the mixture weights are trained (they start at zero)
    assert state['entity_discovery.slot_initializer.mixture_logits'].abs().sum() > 0
    losses = [v for _, v in read_scalars(str(work))['loss']]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
