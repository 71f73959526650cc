"""NoneBot adapters written for this project (platforms with no adapter on PyPI)."""
