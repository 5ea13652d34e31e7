"""考评对象 (units) and what describes them: the unit tree, ranking categories, respondent groups
with their target shares, the unit spreadsheet, and response counts per unit."""
