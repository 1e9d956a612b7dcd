"""Put first on PYTHONPATH, this folder makes gallery run as if the extra gallery[heic] were not installed."""

raise ImportError("No module named 'pillow_heif' (hidden by tests/without_heif)")
