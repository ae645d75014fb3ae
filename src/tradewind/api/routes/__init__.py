"""A router per resource; :func:`tradewind.api.app.create_app` mounts every module here."""
