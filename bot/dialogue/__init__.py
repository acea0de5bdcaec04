"""The diagnosis dialogue, driven by `domain.yml` (questions, slots, responses) and `bot/dialogue.yml` (rules)."""
