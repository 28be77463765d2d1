"""The OpenAPI document (``document``: every status an operation answers, offline docs) and the app's
route walking it shares with the auth matrix (``routing``)."""
