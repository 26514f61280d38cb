"""reaper: finds the cloud resources CI/CD pipelines leave behind and removes them safely."""

__version__ = "0.1.0"
