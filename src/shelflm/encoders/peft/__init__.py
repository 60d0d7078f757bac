"""Parameter-efficient fine-tuning of the item encoder: one config + one tuner per method.

Importing this package registers every method with the registry.
"""

from shelflm.encoders.peft.adalora import AdaLoraTuner, AdaLoraTunerConfig
from shelflm.encoders.peft.adaptor import AdaptorConfig, AdaptorTuner
from shelflm.encoders.peft.base import ItemTuner, TunerConfig
from shelflm.encoders.peft.full import FullTuner, FullTunerConfig
from shelflm.encoders.peft.lora import LoraTuner, LoraTunerConfig
from shelflm.encoders.peft.registry import (
    TUNERS,
    build_tuner,
    load_tuner,
    make_config,
    tuner_class,
)
from shelflm.encoders.peft.top_layers import TopLayersConfig, TopLayersTuner

__all__ = [
    "TUNERS", "AdaLoraTuner", "AdaLoraTunerConfig", "AdaptorConfig", "AdaptorTuner",
    "FullTuner", "FullTunerConfig", "ItemTuner", "LoraTuner", "LoraTunerConfig",
    "TopLayersConfig", "TopLayersTuner", "TunerConfig", "build_tuner", "load_tuner",
    "make_config", "tuner_class",
]
