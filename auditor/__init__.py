"""The platform-work auditor: canonical cases, analyzers, findings."""

__version__ = "0.1.0"
