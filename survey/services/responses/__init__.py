"""Responses coming in: the citizen's submission, the defences against ballot stuffing, consented
follow-up phone numbers, and imported telephone, paper and other tools' responses."""
