"""Parameter-efficient fine-tuning of the item encoder: one config + one tuner per method.

Importing this package imports nothing else, so the torch-free configs stay light:

    config      TunerConfig and each method's config, `tuner_config_class`, `make_config`
    base        ItemTuner (a torch.nn.Module), the interface every method implements
    adaptor, lora, adalora, top_layers, full
                each method's tuner (AdaptorTuner, LoraTuner, ...)
    registry    TUNERS (method -> tuner class), `build_tuner`, `load_tuner`, `tuner_class`
"""
