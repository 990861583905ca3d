import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every sgseg module that registers something, as mmseg's namesake does.

    Only the layers that register (models, datasets, evaluation, engine hooks,
    post-processors) are imported: the API layer (``sgseg.apis``) builds on them and
    registers nothing, so registering never imports it, and ``sgseg.apis`` can call
    this function without an import circle.

    Args:
        init_default_scope: make ``sgseg`` the current default scope, so that
            ``MODELS.build(dict(type=...))`` looks in sgseg's registries first.
    """
    from mmseg.utils import register_all_modules as register_mmseg_modules

    # mmseg's own types (transforms, visualizers, ...) are found through the parents
    register_mmseg_modules(init_default_scope=False)
    import mmseg.visualization  # noqa: F401  (not imported by the line above)
    import sgseg.datasets  # noqa: F401
    import sgseg.engine  # noqa: F401
    import sgseg.evaluation  # noqa: F401
    import sgseg.models  # noqa: F401
    import sgseg.postprocess  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created('sgseg'):
        DefaultScope.get_instance('sgseg', scope_name='sgseg')
    if current is not None and current.scope_name != 'sgseg':
        warnings.warn(f'The current default scope "{current.scope_name}" is not '
                      '"sgseg"; register_all_modules switches to a new scope '
                      '"sgseg".')
        new_name = f'sgseg-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_name, scope_name='sgseg')
