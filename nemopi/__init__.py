"""nemopi's shared core: the contracts that the buoy and the dashboard both stand on.

Everything in this package except ``cli`` and ``demo`` is pure: no paho, Flask or SQLAlchemy.
"""

__version__ = "0.1.0"
