"""telepath-monitor: latency alerting for AI voice calls running through Telepath."""

__version__ = "0.1.0"
