"""RecGPT's user-item-tag towers: the learned collaborative route, trained offline and served by retrieval."""
