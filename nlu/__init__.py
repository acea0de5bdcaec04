"""Natural-language understanding: Rasa-format training data (`nlu/data`) and the backends that read it."""
