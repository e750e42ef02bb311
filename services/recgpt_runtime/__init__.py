"""The shared library of the RecGPT services: settings, logging, metrics, gRPC plumbing, LLM client, stores."""
