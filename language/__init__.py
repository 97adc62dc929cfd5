"""Everything that reads words: normalization, keyword phrases, places, numbers (no Rasa, actions or channels)."""
