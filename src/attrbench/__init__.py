"""attrbench: which feature-attribution method really explains your image classifier.

The public API is re-exported here; see the README for a tour.
"""

from __future__ import annotations

from attrbench.errors import AttrbenchError

__version__ = "0.1.0"

__all__ = ["AttrbenchError", "__version__"]
