"""The dashboard: MQTT ingest into a database, and the Flask app that shows what was stored.

It may import the wire format, the topic tree and the quantity catalogue from ``nemopi``;
nothing else of the buoy (DESIGN.md).
"""
