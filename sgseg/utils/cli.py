"""Argument types shared by the command-line tools."""
import argparse
from typing import Callable


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers >= ``minimum``.

    ``parser.add_argument('--seeds', type=int_at_least(1))`` makes ``--seeds 0`` an
    argparse error (``argument --seeds: must be an integer >= 1, got '0'``) instead of
    a failure after the model is built.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(
                f'must be an integer >= {minimum}, got {text!r}')
        return value

    parse.__name__ = f'integer >= {minimum}'
    return parse
