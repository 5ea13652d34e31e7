"""The realistic Chinese demo that ``make run`` loads into an empty database: units, questionnaires,
responses, cases and results."""
