"""Search strategies (controllers), registered through ``nasengine.controllers``."""
