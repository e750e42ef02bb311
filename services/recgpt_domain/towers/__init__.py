"""RecGPT's user-item-tag towers as trained and served: the model, its versioned artefact and the scorer that
retrieval loads. Training (`towers`) writes artefacts; retrieval reads them; both meet here."""
