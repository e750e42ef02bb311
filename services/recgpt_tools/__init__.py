"""Tools around the services: the local launcher, dataset import, model conversion and the LLM smoke test."""
