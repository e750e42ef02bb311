"""Offline evaluation: leave-last-out comparison of the baseline and RecGPT-V1 via the running services."""
