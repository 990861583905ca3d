"""Progress of long loops as log lines, readable in a terminal and in a log file alike."""
import datetime
import logging
import math
import time
from typing import Union

from mmengine.logging import print_log


def _clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(round(seconds))))


class ProgressLog:
    """Logs ``<what>: done/total <unit> (p%), elapsed, ETA`` about ``num_logs`` times.

    A live progress bar (rich, tqdm) draws nothing when the output is a file or a
    pipe, which is where cluster jobs and ``run_ablations`` send it; plain lines
    through mmengine's logger reach both the terminal and the work dir's log.

    Args:
        total: number of steps (e.g. batches) of the loop.
        what: the loop's name, first word of every line.
        num_logs: lines written over the whole loop (every step when ``total`` is
            smaller).
        unit: what a step is, for the message.
        logger: mmengine logger name (``'current'``: the Runner's) or a logger.
    """

    def __init__(self, total: int, what: str, num_logs: int = 20, unit: str = 'batches',
                 logger: Union[str, logging.Logger] = 'current') -> None:
        self.total, self.what, self.unit, self.logger = total, what, unit, logger
        self.every = max(1, math.ceil(total / max(1, num_logs)))
        self.done = 0
        self.start = time.monotonic()

    def __enter__(self) -> 'ProgressLog':
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, steps: int = 1) -> None:
        """Counts ``steps`` more done; logs when a multiple of the interval (or the end)
        is crossed."""
        before, self.done = self.done, self.done + steps
        if self.done // self.every == before // self.every and self.done != self.total:
            return
        elapsed = time.monotonic() - self.start
        line = f'{self.what}: {self.done}/{self.total} {self.unit}'
        if self.total:
            line += f' ({100 * self.done / self.total:.0f}%)'
        line += f', {_clock(elapsed)} elapsed'
        if 0 < self.done < self.total:
            line += f', ETA {_clock(elapsed / self.done * (self.total - self.done))}'
        print_log(line, self.logger)
