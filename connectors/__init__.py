"""Connectors: read what people really have into the canonical tables of a Case."""

from connectors.base import ReadOptions, ReadResult, Rejection, SourceError
from connectors.registry import CONNECTOR_MODULES, connectors, detect, load

__all__ = ["CONNECTOR_MODULES", "ReadOptions", "ReadResult", "Rejection", "SourceError", "connectors", "detect", "load"]
