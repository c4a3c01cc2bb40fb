"""wastesort: six-class waste photo classifier shared by the API and the trainer."""

__version__ = "0.1.0"

CLASSES: tuple[str, ...] = ("cardboard", "glass", "metal", "paper", "plastic", "trash")


class WastesortError(Exception):
    """Base error: carries a message fit to show an operator (no stack trace needed)."""
