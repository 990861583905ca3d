"""``python -m sgseg.datasets.synthetic``: generate the dataset (see ``--help``)."""
from .generate import main

if __name__ == '__main__':
    main()
