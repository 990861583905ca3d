"""sgseg's registries: children of mmseg's (and so of mmengine's), scope ``sgseg``.

A type registered here is found from a config whose ``default_scope`` is ``sgseg``; a
type that only mmseg or mmengine registers (``LoadImageFromFile``, ``AdamW``,
``CosineAnnealingLR``) is still found through the parent registries.
"""
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import Registry
from mmseg.registry import DATA_SAMPLERS as MMSEG_DATA_SAMPLERS
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import EVALUATOR as MMSEG_EVALUATOR
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import INFERENCERS as MMSEG_INFERENCERS
from mmseg.registry import LOG_PROCESSORS as MMSEG_LOG_PROCESSORS
from mmseg.registry import LOOPS as MMSEG_LOOPS
from mmseg.registry import METRICS as MMSEG_METRICS
from mmseg.registry import MODEL_WRAPPERS as MMSEG_MODEL_WRAPPERS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.registry import OPTIM_WRAPPERS as MMSEG_OPTIM_WRAPPERS
from mmseg.registry import OPTIMIZERS as MMSEG_OPTIMIZERS
from mmseg.registry import PARAM_SCHEDULERS as MMSEG_PARAM_SCHEDULERS
from mmseg.registry import RUNNERS as MMSEG_RUNNERS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS
from mmseg.registry import VISBACKENDS as MMSEG_VISBACKENDS
from mmseg.registry import VISUALIZERS as MMSEG_VISUALIZERS
from mmseg.registry import WEIGHT_INITIALIZERS as MMSEG_WEIGHT_INITIALIZERS

RUNNERS = Registry('runner', parent=MMSEG_RUNNERS, locations=['sgseg.engine'])
# Functions named in configs, e.g. a dataloader's collate_fn (mmengine's pseudo_collate,
# default_collate).
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS, locations=['sgseg.datasets'])
LOOPS = Registry('loop', parent=MMSEG_LOOPS, locations=['sgseg.engine'])
HOOKS = Registry('hook', parent=MMSEG_HOOKS, locations=['sgseg.engine'])
LOG_PROCESSORS = Registry(
    'log_processor', parent=MMSEG_LOG_PROCESSORS, locations=['sgseg.engine'])

DATASETS = Registry('dataset', parent=MMSEG_DATASETS, locations=['sgseg.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMSEG_DATA_SAMPLERS, locations=['sgseg.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMSEG_TRANSFORMS, locations=['sgseg.datasets.transforms'])

MODELS = Registry('model', parent=MMSEG_MODELS, locations=['sgseg.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMSEG_MODEL_WRAPPERS, locations=['sgseg.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMSEG_WEIGHT_INITIALIZERS, locations=['sgseg.models'])
# Slot initializers are the plugin point of the entity discovery module: a new one is a
# class registered here (see projects/example_slots).
SLOT_INITIALIZERS = Registry('slot initializer', locations=['sgseg.models.slots'])
# Post-processors refine a score map with the image (DenseCRF).
POSTPROCESSORS = Registry('postprocessor', locations=['sgseg.postprocess'])

OPTIMIZERS = Registry('optimizer', parent=MMSEG_OPTIMIZERS, locations=['sgseg.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMSEG_OPTIM_WRAPPERS, locations=['sgseg.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMSEG_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['sgseg.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMSEG_PARAM_SCHEDULERS, locations=['sgseg.engine'])

METRICS = Registry('metric', parent=MMSEG_METRICS, locations=['sgseg.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMSEG_EVALUATOR, locations=['sgseg.evaluation'])

VISUALIZERS = Registry(
    'visualizer', parent=MMSEG_VISUALIZERS, locations=['sgseg.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMSEG_VISBACKENDS, locations=['sgseg.visualization'])
INFERENCERS = Registry('inferencer', parent=MMSEG_INFERENCERS, locations=['sgseg.apis'])
