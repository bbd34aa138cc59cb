"""Quality control (QARTOD) of every stored reading.

``flags`` names the flag values and maps the buoy's sensor status onto them; ``config`` loads
the thresholds (data, versioned by a content hash); ``rules`` is the pure core that calls
``ioos_qc.qartod``; ``runner`` reads history windows from the database, ``store`` keeps the
flags; ``command`` is ``nemopi qc rerun``. docs/quality-control.md explains the whole.
"""
