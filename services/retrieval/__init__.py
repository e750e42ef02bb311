"""The retrieval service: a FAISS index of item embeddings plus the collaborative route."""
