"""iron-cds: a CDS Hooks 2.0 service that checks intravenous iron orders.

The public surface is small: ``create_app()`` (the WSGI app factory) and the
``iron-cds`` command line. Everything else is internal.
"""

__version__ = "0.1.0"

SERVICE_ID = "iv-iron-order-check"
