"""Command groups of the CLI. Each module exposes `register(app)`; cli.py attaches them.

Commands parse flags, load the run config (`options.load_run_config`: defaults < --config
< SHELFLM_* environment < flags) and call the library; they hold no modelling logic.

Convention: the CLI imports every command module at start, and `shelflm --help`,
`config show` and `serve --help` must not load torch (tests/test_config_light.py). So a
command module imports only torch-free parts at the top; a command that trains, loads an
artifact or serves imports those library parts inside its function, once its arguments
are checked, under a comment that says so.
"""
