from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_match_hook import CheckpointMatchHook, checkpoint_mismatches
from .loss_warmup_hook import LossWarmupHook
from .progress_hook import TestProgressHook
from .random_state_hook import RandomStateHook
from .resume_check_hook import ResumeCheckHook
from .sample_ids_hook import SampleIdsHook
from .stream_resume_hook import StreamResumeHook
from .visualization_hook import RefSegVisualizationHook

__all__ = ['AtomicCheckpointHook', 'CheckpointMatchHook', 'checkpoint_mismatches', 'LossWarmupHook', 'RandomStateHook', 'RefSegVisualizationHook',
           'ResumeCheckHook', 'SampleIdsHook', 'StreamResumeHook', 'TestProgressHook']
