"""openami: JEPA world models that learn from pixels and actions, remember, reason and plan."""

__version__ = "0.1.0"
