"""LM tuning that fits a CPU: a fine-tuned language model (a PEFT tuner) makes the item
vectors, but a step does not run it over the whole catalog.

The full softmax needs every item's vector at every step; with a tuner that means the LM
over every item text, every step (150-800 s an epoch on ML-100K's 1,682 titles, one CPU
thread). `CachedItemTable` keeps the catalog's vectors from the last refresh (every
`refresh_steps` steps, without gradients) and recomputes only `rows` of them per step with
gradients: the batch's target items first, then random items as negatives. The LM then
runs over `rows` texts a step, plus the whole catalog once per refresh.
"""

from __future__ import annotations

import numpy as np
import torch

from shelflm.models.shelf_model import ShelfModel


class CachedItemTable:
    """The step's item table: cached rows, with `rows` of them fresh and differentiable."""

    def __init__(self, refresh_steps: int, rows: int, rng: np.random.Generator) -> None:
        if refresh_steps < 1 or rows < 1:
            raise ValueError(f"CachedItemTable: refresh_steps and rows must be >= 1, got "
                             f"{refresh_steps} and {rows}")
        self.refresh_steps, self.rows, self._rng = refresh_steps, rows, rng
        self._cache: torch.Tensor | None = None
        self._steps = 0
        self.refreshes = 0

    def __call__(self, model: ShelfModel, targets: torch.Tensor) -> torch.Tensor:
        """(num_items, hidden): the cache with the live rows (see `live_rows`) re-encoded."""
        tower = model.item_tower
        if self._cache is None or self._steps % self.refresh_steps == 0:
            with torch.no_grad():
                self._cache = tower.all_items()
            self.refreshes += 1
        self._steps += 1
        live = self.live_rows(targets, tower.num_items).to(self._cache.device)
        return self._cache.index_put((live,), tower(live))

    def live_rows(self, targets: torch.Tensor, num_items: int) -> torch.Tensor:
        """Up to `rows` distinct item indices: the step's targets (a random share of them
        when there are more), topped up with random items."""
        wanted = np.unique(targets.cpu().numpy())
        if len(wanted) > self.rows:
            return torch.from_numpy(np.sort(self._rng.choice(wanted, self.rows, replace=False)))
        extra = self._rng.choice(num_items, min(num_items, self.rows), replace=False)
        rows = np.concatenate([wanted, np.setdiff1d(extra, wanted)])[: self.rows]
        return torch.from_numpy(np.sort(rows))
