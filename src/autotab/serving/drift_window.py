"""Each input's drift over the service's recent records, for Prometheus: the population stability
index of the last `serve.drift_window` records' values against the training profile the data
contract keeps (`autotab.data.profile`, as `autotab drift` computes it for a file).

Memory is bounded: a ring of each record's bin per cleaned column (one small integer each), and the
bin counts of the window, updated as records come in and drop out. A request costs binning its own
records, and one vectorised PSI over every column's counts.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from autotab.data.contract import CleanedColumn
from autotab.data.profile import bin_codes, psi, reference_shares


class DriftWindow:
    def __init__(self, columns: tuple[CleanedColumn, ...], size: int) -> None:
        self.columns = [column for column in columns if column.profile is not None]
        references = [reference_shares(column.profile) for column in self.columns]
        width = max(map(len, references), default=1)
        # Padded bins are 0 on both sides: each adds nothing to the PSI (floor against floor).
        self.reference = np.zeros((len(self.columns), width))
        for row, shares in enumerate(references):
            self.reference[row, : len(shares)] = shares
        self.ring = np.zeros((size, len(self.columns)), dtype=np.int32)
        self.counts = np.zeros((len(self.columns), width), dtype=np.int64)
        self.size, self.filled, self.next = size, 0, 0
        self.lock = threading.Lock()  # a worker's requests may run on several threads

    @property
    def full(self) -> bool:
        return self.filled == self.size

    def add(self, cleaned: pd.DataFrame) -> dict[str, float] | None:
        """Take in the cleaned records of a request (the oldest in the window drop out); each
        column's PSI over the window once it is full, else None."""
        if not self.columns or cleaned.empty:
            return None
        batch = np.column_stack([bin_codes(cleaned[column.name], column.profile) for column in self.columns])
        with self.lock:
            self._take(batch[-self.size :])
            return self.psi() if self.full else None

    def _take(self, batch: np.ndarray) -> None:
        slots = (self.next + np.arange(len(batch))) % self.size
        columns = np.arange(len(self.columns))
        if self.full or self.filled + len(batch) > self.size:
            old = slots[slots < self.filled] if not self.full else slots
            np.subtract.at(self.counts, (np.repeat(columns[None, :], len(old), 0), self.ring[old]), 1)
        np.add.at(self.counts, (np.repeat(columns[None, :], len(batch), 0), batch), 1)
        self.ring[slots] = batch
        self.next = (self.next + len(batch)) % self.size
        self.filled = min(self.size, self.filled + len(batch))

    def psi(self) -> dict[str, float]:
        """Each column's PSI over the records in the window."""
        if not self.filled:
            return {}
        values = psi(self.reference, self.counts / self.filled)
        return {column.name: float(value) for column, value in zip(self.columns, values, strict=True)}
