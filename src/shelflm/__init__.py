"""shelflm: a real-time e-commerce recommender powered by a pretrained language model."""

__version__ = "0.1.0"
