# Golden files for the breakdowns under raking (analysis/breakdowns.py), made with R's survey package.
#
#   cd tests/analysis/reference && Rscript make_breakdowns_rake.R
#
# Reads responses.csv and targets.json (the data of expected_rake.csv) and writes
#   breakdowns_rake_expected.csv  the satisfaction index and 满意率 by group, channel and unit category
#   crosstab_rake_expected.csv    the weighted column shares of each answer level of Q1 and Q2 by group and channel
# Design: one row per (respondent, unit); each unit a stratum of its own (no fpc), raked within the unit
# on group and channel to the unit's renormalised target shares (calibrate(calfun = "raking"), raw cells
# as min_cell_n = 1, equal question weights). A unit whose raking does not converge is left out, as the
# engine leaves it out of every domain. As the units are independent strata, a domain's totals and
# their covariance are the sums over units of each unit's svytotal (with its GREG linearisation);
# the index is then a svycontrast of the ratios of domain totals, 满意率 and each cross-tab share one ratio.
# Unit categories: breakdowns_categories.csv (made by make_breakdowns.R).
suppressPackageStartupMessages({library(survey); library(jsonlite)})

raw <- read.csv("responses.csv", stringsAsFactors = FALSE, encoding = "UTF-8", colClasses = "character")
targets <- fromJSON("targets.json")
questions <- sort(unique(raw$question))
scores <- c(0, 25, 50, 75, 100)
units <- sort(unique(raw$unit))
cats <- read.csv("breakdowns_categories.csv", stringsAsFactors = FALSE, encoding = "UTF-8")
category_of <- setNames(cats$category, cats$unit)

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
resp$one <- 1

# The domain variables, one column each: for every (by, level) the per-question score and answered
# variables, s and t; for every cross-tab (question, by, level) the level indicators and answered.
domains <- list()
for (by in c("group", "channel", "category")) {
  for (d in sort(unique(resp[[by]]))) domains[[length(domains) + 1]] <- list(by = by, level = d)
}
vars <- c()
for (i in seq_along(domains)) {
  inside <- as.numeric(resp[[domains[[i]]$by]] == domains[[i]]$level)
  for (q in questions) {
    resp[[sprintf("d%d_y%s", i, q)]] <- resp[[paste0("y", q)]] * inside
    resp[[sprintf("d%d_x%s", i, q)]] <- resp[[paste0("x", q)]] * inside
  }
  resp[[sprintf("d%d_s", i)]] <- resp$s * inside
  resp[[sprintf("d%d_t", i)]] <- resp$t * inside
  vars <- c(vars, sprintf("d%d_y%s", i, questions), sprintf("d%d_x%s", i, questions), sprintf("d%d_s", i),
            sprintf("d%d_t", i))
}
tabs <- list()
for (q in c("Q1", "Q2")) {
  for (by in c("group", "channel")) {
    for (d in sort(unique(resp[[by]]))) {
      j <- length(tabs) + 1
      tabs[[j]] <- list(question = q, by = by, level = d)
      inside <- as.numeric(resp[[by]] == d)
      lq <- resp[[paste0("l", q)]]
      resp[[sprintf("c%d_a", j)]] <- as.numeric(lq > 0) * inside
      for (l in 1:5) resp[[sprintf("c%d_l%d", j, l)]] <- as.numeric(lq == l) * inside
      vars <- c(vars, sprintf("c%d_a", j), sprintf("c%d_l%d", j, 1:5))
    }
  }
}

cell_totals <- function(values, shares, n) {
  present <- sort(unique(values))
  p <- shares[present] / sum(shares[present])
  setNames(n * as.vector(p), present)
}

group_shares <- unlist(targets$group)
channel_shares <- unlist(targets$channel)
total <- setNames(rep(0, length(vars)), vars)
covariance <- matrix(0, length(vars), length(vars), dimnames = list(vars, vars))
kept <- rep(FALSE, nrow(resp))
left_out <- c()
formula_all <- as.formula(paste("~", paste(vars, collapse = "+")))
for (u in units) {
  rows <- resp[resp$unit == u, ]
  n <- nrow(rows)
  margins <- list(group = cell_totals(rows$group, group_shares, n),
                  channel = cell_totals(rows$channel, channel_shares, n))
  margins <- margins[sapply(margins, length) >= 2]
  for (m in names(margins)) rows[[m]] <- factor(rows[[m]], levels = names(margins[[m]]))
  des <- svydesign(ids = ~1, weights = ~one, data = rows)
  if (length(margins) > 0) {
    population <- c(`(Intercept)` = n, unlist(lapply(names(margins), function(m) {
      setNames(margins[[m]][-1], paste0(m, names(margins[[m]])[-1]))
    })))
    formula <- as.formula(paste("~", paste(names(margins), collapse = "+")))
    # R stops ("Calibration failed") or warns when the raking does not converge.
    converged <- TRUE
    des <- tryCatch(withCallingHandlers(
      calibrate(des, formula, population, calfun = "raking", epsilon = 1e-13, maxit = 1000),
      warning = function(w) { converged <<- FALSE; invokeRestart("muffleWarning") }),
      error = function(e) { converged <<- FALSE; NULL })
    if (!converged) { left_out <- c(left_out, u); next }
  }
  st <- svytotal(formula_all, des)
  total <- total + coef(st)[vars]
  covariance <- covariance + vcov(st)[vars, vars]
  kept[resp$unit == u] <- TRUE
}
pooled <- structure(total, var = covariance, statistic = "total", class = "svystat")
message("left out (raking did not converge): ", paste(left_out, collapse = ", "))

fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
ratio <- function(num, den) {
  if (total[den] == 0) return(c(NA, NA))
  r <- svycontrast(pooled, parse(text = paste0(num, "/", den))[[1]])
  c(coef(r), SE(r))
}

rows <- list()
for (i in seq_along(domains)) {
  by <- domains[[i]]$by; d <- domains[[i]]$level
  answered <- questions[total[sprintf("d%d_x%s", i, questions)] > 0]
  expr <- parse(text = paste0("(", paste0(sprintf("d%d_y%s", i, answered), "/", sprintf("d%d_x%s", i, answered),
                                         collapse = "+"), ")/", length(answered)))[[1]]
  ix <- svycontrast(pooled, expr)
  sr <- ratio(sprintf("d%d_s", i), sprintf("d%d_t", i))
  rows[[length(rows) + 1]] <- data.frame(
    by = by, level = d, n = sum(kept & resp[[by]] == d), index = fmt(coef(ix)), index_se = fmt(SE(ix)),
    satisfied_rate = fmt(sr[1]), satisfied_rate_se = fmt(sr[2]), stringsAsFactors = FALSE)
}
write.csv(do.call(rbind, rows), "breakdowns_rake_expected.csv", row.names = FALSE, quote = FALSE,
          fileEncoding = "UTF-8")

rows <- list()
for (j in seq_along(tabs)) {
  tb <- tabs[[j]]
  lq <- resp[[paste0("l", tb$question)]]
  for (l in 1:5) {
    sh <- ratio(sprintf("c%d_l%d", j, l), sprintf("c%d_a", j))
    rows[[length(rows) + 1]] <- data.frame(
      question = tb$question, by = tb$by, level = tb$level, answer = l,
      n = sum(kept & resp[[tb$by]] == tb$level & lq > 0), share = fmt(sh[1]), se = fmt(sh[2]),
      stringsAsFactors = FALSE)
  }
}
write.csv(do.call(rbind, rows), "crosstab_rake_expected.csv", row.names = FALSE, quote = FALSE,
          fileEncoding = "UTF-8")
