# Golden files for the per-question results of the other question types (analysis/items.py),
# made with R's survey package.
#
#   cd tests/analysis/reference && Rscript make_items.R
#
# writes items_responses.csv (satisfaction answers: the index sample and its groups),
# items_answers.csv (answers to a scored single-choice question T "how many trips", options
# 1/2/3 scored 100/50/0; a multiple-choice question M, options a/b/c, one row per option chosen;
# a 0-10 rating R; a text question C), items_targets.json (group shares), items_questions.json
# (the items, for `python -m analysis items --questions`) and
# items_expected.csv: per unit (and for all units pooled, unit ALL), item and statistic, R's estimate and SE.
# Each unit is its own sample: svydesign(ids = ~1, weights = ~1) on the respondents who rated
# it, postStratify by group, then svymean of the indicator (or value) on the subset of those
# who answered the item (a domain: the SE uses the whole unit's design, = svyratio(~y, ~x)).
suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "fail")

groups <- c("企业", "群众", "服务对象", "人大代表")
shares <- c(0.3, 0.4, 0.2, 0.1)
questions <- c("Q1", "Q2")
units <- sprintf("W%02d", 1:6)
size <- c(W01 = 60, W02 = 45, W03 = 80, W04 = 30, W05 = 52, W06 = 3)

set.seed(20261207)
rows <- list(); items <- list(); rid <- 0
for (u in units) {
  for (k in seq_len(size[[u]])) {
    rid <- rid + 1
    id <- sprintf("R%04d", rid)
    g <- sample(groups, 1, prob = c(0.25, 0.35, 0.3, 0.1))
    if (u == "W06") g <- groups[k]
    gi <- match(g, groups)
    level <- pmin(5, pmax(1, round(rnorm(2, 3.8 - 0.3 * gi, 1))))
    rows[[length(rows) + 1]] <- data.frame(respondent_id = id, unit = u, group = g, question = questions,
                                           level = level, stringsAsFactors = FALSE)
    if (runif(1) < 0.9) {
      trips <- sample(c("1", "2", "3"), 1, prob = c(0.5 + 0.08 * gi, 0.3 - 0.05 * gi, 0.2 - 0.03 * gi))
      items[[length(items) + 1]] <- data.frame(respondent_id = id, unit = u, item = "T", value = trips)
    }
    if (runif(1) < 0.8) {
      chosen <- c("a", "b", "c")[runif(3) < c(0.5, 0.3 + 0.1 * gi, 0.2)]
      if (length(chosen) == 0) chosen <- "a"
      items[[length(items) + 1]] <- data.frame(respondent_id = id, unit = u, item = "M", value = chosen)
    }
    if (runif(1) < 0.85) {
      items[[length(items) + 1]] <- data.frame(respondent_id = id, unit = u, item = "R",
                                               value = as.character(min(10, max(0, round(rnorm(1, 9 - gi, 2))))))
    }
    if (runif(1) < 0.3) {
      items[[length(items) + 1]] <- data.frame(respondent_id = id, unit = u, item = "C", value = "意见")
    }
  }
}
# An item answer of someone outside the unit's index sample: no weight, left out.
items[[length(items) + 1]] <- data.frame(respondent_id = "R9999", unit = "W01", item = "T", value = "3")
responses <- do.call(rbind, rows)
answers <- do.call(rbind, items)
write.csv(responses, "items_responses.csv", row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")
write.csv(answers, "items_answers.csv", row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")
writeLines(c("{", paste0(' "group": {', paste(sprintf('"%s": %s', groups, shares), collapse = ", "), "}"), "}"),
           "items_targets.json", useBytes = TRUE)
# The items for `python -m analysis items --questions`.
writeLines(c("{",
             ' "T": {"type": "single", "options": ["1", "2", "3"], "scores": [100, 50, 0]},',
             ' "M": {"type": "multiple", "options": ["a", "b", "c"]},',
             ' "R": {"type": "rating"},',
             ' "C": {"type": "text"}',
             "}"), "items_questions.json", useBytes = TRUE)

fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
out <- list()
emit <- function(unit, item, stat, est, se, n) {
  out[[length(out) + 1]] <<- data.frame(unit = unit, item = item, statistic = stat, n = n,
                                        estimate = fmt(est), se = fmt(se), stringsAsFactors = FALSE)
}
for (u in units) {
  resp <- unique(responses[responses$unit == u, c("respondent_id", "group")])
  a <- answers[answers$unit == u, ]
  has <- function(item) resp$respondent_id %in% a$respondent_id[a$item == item]
  pick <- function(item, v) resp$respondent_id %in% a$respondent_id[a$item == item & a$value == v]
  value_of <- function(item) as.numeric(a$value[a$item == item][match(resp$respondent_id, a$respondent_id[a$item == item])])
  resp$xT <- has("T"); resp$xM <- has("M"); resp$xR <- has("R")
  for (v in c("1", "2", "3")) resp[[paste0("T", v)]] <- as.numeric(pick("T", v))
  for (v in c("a", "b", "c")) resp[[paste0("M", v)]] <- as.numeric(pick("M", v))
  resp$Tscore <- ifelse(resp$xT, c(100, 50, 0)[value_of("T")], 0)
  resp$Rv <- ifelse(resp$xR, value_of("R"), 0)
  for (v in 0:10) resp[[paste0("R", v)]] <- as.numeric(resp$xR & resp$Rv == v)
  n_c <- sum(has("C"))
  emit(u, "C", "count", n_c, NA, n_c)
  present <- groups[groups %in% resp$group]
  pop <- data.frame(group = present, Freq = shares[match(present, groups)] / sum(shares[match(present, groups)]) * nrow(resp))
  des <- postStratify(svydesign(ids = ~1, weights = ~1, data = resp), ~group, pop)
  est <- function(item, stat, var) {
    x <- paste0("x", item)
    n <- sum(resp[[x]])
    sub <- subset(des, resp[[x]])
    m <- svymean(as.formula(paste0("~", var)), sub)
    emit(u, item, stat, coef(m)[[1]], if (nrow(resp) < 2) NA else SE(m)[[1]], n)
  }
  for (v in c("1", "2", "3")) est("T", paste0("share:", v), paste0("T", v))
  est("T", "mean", "Tscore")
  for (v in c("a", "b", "c")) est("M", paste0("share:", v), paste0("M", v))
  for (v in 0:10) est("R", paste0("share:", v), paste0("R", v))
  est("R", "mean", "Rv")
}
# All units pooled (unit "ALL"): one design with each unit a stratum, post-stratified on unit x group
# to the same totals as each unit's own design, so every respondent keeps the weight of the unit's
# estimate; then svymean on the subset who answered.
all_resp <- do.call(rbind, lapply(units, function(u) {
  resp <- unique(responses[responses$unit == u, c("respondent_id", "unit", "group")])
  a <- answers[answers$unit == u, ]
  has <- function(item) resp$respondent_id %in% a$respondent_id[a$item == item]
  pick <- function(item, v) resp$respondent_id %in% a$respondent_id[a$item == item & a$value == v]
  value_of <- function(item) as.numeric(a$value[a$item == item][match(resp$respondent_id, a$respondent_id[a$item == item])])
  resp$xT <- has("T"); resp$xM <- has("M"); resp$xR <- has("R")
  for (v in c("1", "2", "3")) resp[[paste0("T", v)]] <- as.numeric(pick("T", v))
  for (v in c("a", "b", "c")) resp[[paste0("M", v)]] <- as.numeric(pick("M", v))
  resp$Tscore <- ifelse(resp$xT, c(100, 50, 0)[value_of("T")], 0)
  resp$Rv <- ifelse(resp$xR, value_of("R"), 0)
  for (v in 0:10) resp[[paste0("R", v)]] <- as.numeric(resp$xR & resp$Rv == v)
  resp$cell <- paste(u, resp$group)
  resp
}))
pops <- do.call(rbind, lapply(units, function(u) {
  resp <- unique(responses[responses$unit == u, c("respondent_id", "group")])
  present <- groups[groups %in% resp$group]
  data.frame(cell = paste(u, present), Freq = shares[match(present, groups)] / sum(shares[match(present, groups)]) * nrow(resp))
}))
pooled <- postStratify(svydesign(ids = ~1, strata = ~unit, weights = ~1, data = all_resp), ~cell, pops)
pooled_est <- function(item, stat, var) {
  x <- paste0("x", item)
  m <- svymean(as.formula(paste0("~", var)), subset(pooled, all_resp[[x]]))
  emit("ALL", item, stat, coef(m)[[1]], SE(m)[[1]], sum(all_resp[[x]]))
}
emit("ALL", "C", "count", sum(answers$item == "C" & answers$respondent_id %in% responses$respondent_id), NA,
     sum(answers$item == "C" & answers$respondent_id %in% responses$respondent_id))
for (v in c("1", "2", "3")) pooled_est("T", paste0("share:", v), paste0("T", v))
pooled_est("T", "mean", "Tscore")
for (v in c("a", "b", "c")) pooled_est("M", paste0("share:", v), paste0("M", v))
for (v in 0:10) pooled_est("R", paste0("share:", v), paste0("R", v))
pooled_est("R", "mean", "Rv")
write.csv(do.call(rbind, out), "items_expected.csv", row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")
