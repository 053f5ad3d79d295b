"""Model lifecycle: signed artifacts, the registry of loaded models and their usage."""
