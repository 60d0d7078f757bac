"""Classic baselines, each an `evaluation.protocol.Recommender` with a `grid` to tune on."""

from shelflm.models.baselines.ease import EASE, EASEConfig
from shelflm.models.baselines.itemknn import ItemKNN, ItemKNNConfig
from shelflm.models.baselines.mf import ALSConfig, ALSRecommender
from shelflm.models.baselines.popularity import Popularity
from shelflm.models.baselines.tuning import TunedRecommender, grid_points

__all__ = [
    "EASE", "EASEConfig", "ItemKNN", "ItemKNNConfig", "ALSConfig", "ALSRecommender",
    "Popularity", "TunedRecommender", "grid_points",
]
