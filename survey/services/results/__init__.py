"""A period's results: loading the answers, weighting settings, snapshots (compute, verify, publish),
the 公众评议 component, leader ratings, and what the pages, exports, charts and the API show."""
