"""CLI sub-commands beyond ``run``, ``models`` and ``datasets``; each module registers on the apps in ``.app``.

``ferbench.cli`` imports the modules listed in ``COMMAND_MODULES`` after creating the app.
"""

COMMAND_MODULES: list[str] = [
    "humans",
    "compare",
    "datasets_check",
    "models_pull",
    "models_card",
    "predict",
    "store",
    "sensitivity",
]
