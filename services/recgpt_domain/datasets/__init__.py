"""Datasets in their published formats (UniSRec/RecBole atomic files, MovieLens CSVs): read into a catalogue
folder and a behaviour log in Redis. Offline code reads them here; `recgpt-import` is the command line."""
