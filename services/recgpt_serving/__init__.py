"""Serving plumbing every process shares: settings, JSON logs, metrics, gRPC server and client, LLM client."""
