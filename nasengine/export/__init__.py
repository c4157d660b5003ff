"""Exports of found architectures: writing them (``export_run``, ``export_model``, formats),
loading them (``load``) and registering them as timm models (``register_timm``)."""

from __future__ import annotations

from nasengine.export.compressed import export_compressed
from nasengine.export.export import ExportError, export_model, export_run
from nasengine.export.load import load
from nasengine.export.timm import register_timm

__all__ = ["ExportError", "export_compressed", "export_model", "export_run", "load", "register_timm"]
