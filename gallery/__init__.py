"""gallery: find, fix and optimize the images of a Markdown static site."""

__version__ = "0.1.0"
