"""The Rasa-process runtime: channels, NLU components, stores, guard, failure reply, privacy, launcher, console."""
