"""Near-line job: precomputes users' RecGPT-V1 profiles (interests, tags) and explanations into Redis."""
