"""Shared library of the RecGPT services: settings, logs, metrics, gRPC plumbing, LLM client, stores."""
