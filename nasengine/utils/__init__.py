"""Small helpers shared across the engine: validation, files, devices, timing, seeding, progress."""
