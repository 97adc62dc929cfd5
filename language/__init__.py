"""Everything that reads words: normalization, keyword phrases, places, numbers (no Rasa, actions or channels)."""


def warm() -> None:
    """Load the word lists and build their indexes now (a server's start), not during its first message."""
    from language.normalize import normalize
    from language.places import sub_places
    from language.situation import warm_up

    sub_places(normalize("轮倚"))  # pinyin, catalog words, jieba's two-character words; the towns
    warm_up()  # the learned reading of danger is trained (a few seconds)
