"""Data cards: the card template, and the cards of datasets built from the sample corpora."""
