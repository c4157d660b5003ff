"""Built-in search spaces, registered through the ``nasengine.spaces`` entry points."""
