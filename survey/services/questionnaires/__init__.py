"""Questionnaires: the editor and its versions, the ready-made templates, and questionnaires as plain
data (JSON)."""
