"""CLI sub-commands beyond ``run``, ``models`` and ``datasets``; each module registers on ``ferbench.cli.app``.

``ferbench.cli`` imports the modules listed in ``COMMAND_MODULES`` after creating the app.
"""

COMMAND_MODULES: list[str] = [
    "humans",
    "compare",
    "datasets_check",
    "models_pull",
    "predict",
    "store",
    "sensitivity",
]
