"""What a message says about the older person: self-care ability and economic status (person.yml); the age is
language.numbers.age."""

from __future__ import annotations

from language.words import words


def keyword_value(message: str, table: str) -> str | None:
    """The value of person.yml's `table` whose word occurs in the message (longest word first)."""
    for word, value in sorted(words("person")[table].items(), key=lambda kv: -len(kv[0])):
        if word in message:
            return str(value)
    return None
