"""`make eval-feed`: RecBot's interactive feed evaluated with simulated users who know their next item."""
