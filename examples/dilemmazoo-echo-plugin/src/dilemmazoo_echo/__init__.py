"""An example dilemmazoo plugin: an echo backend, a two-seat coin world (matching pennies) and a shared-pot utility.

dilemmazoo finds them by the entry points in this package's ``pyproject.toml``; nothing imports
this package by hand, and importing it registers nothing.
"""

__version__ = "0.1.0"
