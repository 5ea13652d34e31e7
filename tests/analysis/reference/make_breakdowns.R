# Golden files for the breakdowns (analysis/breakdowns.py), made with R's survey package.
#
#   cd tests/analysis/reference && Rscript make_breakdowns.R
#
# Reads responses.csv and targets.json (the same data as expected_poststratify.csv) and writes
#   breakdowns_expected.csv  the satisfaction index and 满意率 by group, channel and unit category
#   crosstab_expected.csv    the weighted column shares of each answer level of Q1 and Q2 by group and channel
# Design: one row per (respondent, unit); each unit a stratum of its own (a sample of its own, no fpc),
# post-stratified by group within each unit to the unit's renormalised target shares (R's postStratify on the
# unit x group cells, raw cells as min_cell_n = 1). Domain estimation with svyby and domain totals: svytotal
# of the per-question score and answered variables times the domain indicator, the index a svycontrast of their ratios; 满意率 svyratio(~s, ~t); the cross-tab
# svymean of the level indicators on the subset that answered the question.
suppressPackageStartupMessages({library(survey); library(jsonlite)})
options(survey.lonely.psu = "fail")

raw <- read.csv("responses.csv", stringsAsFactors = FALSE, encoding = "UTF-8", colClasses = "character")
targets <- fromJSON("targets.json")
questions <- sort(unique(raw$question))
scores <- c(0, 25, 50, 75, 100)
units <- sort(unique(raw$unit))
# Unit categories for the test: the units in code order, dealt out to A, B, C in turn.
category_of <- setNames(c("A", "B", "C")[(seq_along(units) - 1) %% 3 + 1], units)
write.csv(data.frame(unit = units, category = category_of[units]), "breakdowns_categories.csv",
          row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")

resp <- unique(raw[, c("respondent_id", "unit", "group", "channel")])
key <- paste(resp$respondent_id, resp$unit)
for (q in questions) {
  sub <- raw[raw$question == q, ]
  lv <- as.integer(sub$level[match(key, paste(sub$respondent_id, sub$unit))])
  resp[[paste0("l", q)]] <- ifelse(is.na(lv), 0L, lv)
  resp[[paste0("y", q)]] <- ifelse(is.na(lv), 0, scores[pmax(lv, 1)])
  resp[[paste0("x", q)]] <- as.numeric(!is.na(lv))
  resp[[paste0("s", q)]] <- as.numeric(!is.na(lv) & lv >= 3)
}
resp$s <- rowSums(resp[, paste0("s", questions)])
resp$t <- rowSums(resp[, paste0("x", questions)])
resp$category <- category_of[resp$unit]
resp$cell <- paste(resp$unit, resp$group, sep = ":")
resp$one <- 1

# Population of each unit x group cell: n_u times the group's share renormalised over the groups present.
shares <- unlist(targets$group)
pop <- do.call(rbind, lapply(units, function(u) {
  present <- unique(resp$group[resp$unit == u])
  p <- shares[present] / sum(shares[present])
  data.frame(cell = paste(u, present, sep = ":"), Freq = sum(resp$unit == u) * as.vector(p))
}))
des <- svydesign(ids = ~1, strata = ~unit, weights = ~one, data = resp)
des <- postStratify(des, ~cell, pop)

fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

rows <- list()
for (by in c("group", "channel", "category")) {
  f <- as.formula(paste0("~", by))
  sr <- svyby(~s, f, des, svyratio, denominator = ~t)
  levels <- as.character(sr[[by]])
  for (i in seq_along(levels)) {
    d <- levels[i]
    # Domain totals: the per-question score and answered variables times the domain indicator.
    inside <- as.numeric(resp[[by]] == d)
    dom <- des
    for (q in questions) {
      dom$variables[[paste0("dy", q)]] <- resp[[paste0("y", q)]] * inside
      dom$variables[[paste0("dx", q)]] <- resp[[paste0("x", q)]] * inside
    }
    tot <- svytotal(as.formula(paste("~", paste(c(paste0("dy", questions), paste0("dx", questions)), collapse = "+"))),
                    dom)
    answered <- questions[coef(tot)[paste0("dx", questions)] > 0]
    expr <- parse(text = paste0("(", paste0("dy", answered, "/dx", answered, collapse = "+"), ")/",
                                length(answered)))[[1]]
    ix <- svycontrast(tot, expr)
    rows[[length(rows) + 1]] <- data.frame(
      by = by, level = d, n = sum(inside), index = fmt(coef(ix)), index_se = fmt(SE(ix)),
      satisfied_rate = fmt(coef(sr)[i]), satisfied_rate_se = fmt(SE(sr)[i]), stringsAsFactors = FALSE)
  }
}
write.csv(do.call(rbind, rows), "breakdowns_expected.csv", row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")

rows <- list()
for (q in c("Q1", "Q2")) {
  lq <- paste0("l", q)
  des2 <- update(des, lev = factor(resp[[lq]], levels = 0:5))
  answered <- subset(des2, resp[[lq]] > 0)
  for (by in c("group", "channel")) {
    m <- svyby(~lev, as.formula(paste0("~", by)), answered, svymean)
    est <- coef(m); se <- sqrt(diag(vcov(m)))
    for (d in as.character(m[[by]])) {
      for (l in 1:5) {
        name <- paste0(d, ":lev", l)
        rows[[length(rows) + 1]] <- data.frame(
          question = q, by = by, level = d, answer = l, n = sum(resp[[by]] == d & resp[[lq]] > 0),
          share = fmt(est[name]), se = fmt(se[name]), stringsAsFactors = FALSE)
      }
    }
  }
}
write.csv(do.call(rbind, rows), "crosstab_expected.csv", row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")
