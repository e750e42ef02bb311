"""The HTTP face of the platform: validates requests, runs a pipeline variant, reports metrics."""
