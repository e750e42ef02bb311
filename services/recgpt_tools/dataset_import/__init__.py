"""Dataset import: published formats (UniSRec/RecBole atomic files, MovieLens CSVs) into a catalogue
folder and the behaviour log in Redis; `recgpt-import` is the command line."""
