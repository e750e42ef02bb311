"""The embedding runtime every process that embeds text shares: the bundled model on OpenVINO or torch."""
