"""stinger: load-test and A/B-test machine-learning model endpoints.

The public surface is small on purpose; everything else is an implementation
module that may change.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
