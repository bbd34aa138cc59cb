"""Exports for researchers: the same rows as CSV, JSON Lines or CF NetCDF, streamed.

``request`` validates a query string into an ``ExportRequest`` (pure); ``rows`` turns it into
a plan against the database and yields wide rows chunk by chunk, one short query each;
``columns`` names the columns; ``csv_format``, ``json_format`` and ``netcdf_format`` turn
chunks into bytes; ``metadata`` says where the data come from; ``blueprint`` is the HTTP side
of the export and sets up the rest: ``estimate`` (its size before it starts), ``query_api``
(quantities, buoys and the OpenAPI document, dashboard/openapi.json), ``page`` (the export
page) and ``rate_limits``; ``api_request`` holds what their endpoints share. See
docs/exports.md.
"""
