# Golden files for conditional questions (display conditions, analysis/items.py), made with R's
# survey package.
#
#   cd tests/analysis/reference && Rscript make_conditional.R
#
# writes conditional_responses.csv (satisfaction answers Q1, Q2: the index sample and its groups),
# conditional_answers.csv (answers to three conditional questions; a question not shown to a
# respondent is one row with not_shown = 1 and no value) and conditional_expected.csv.
#   B  multiple choice, options a … f (the 差评 reasons), shown when Q1 or Q2 is at most 2;
#   S  single choice 1/2/3 scored 100/50/0, shown when Q1 is at least 4;
#   Z  a 0-10 rating, shown when Q2 is at most 3.
# Some of those shown skip the question (no row): skipped is outside every denominator.
# Each unit is its own sample: svydesign(ids = ~1, weights = ~1) on the respondents who rated it,
# postStratify by group (targets items_targets.json), then, for each statistic, two domains:
#   shown: svymean(~y, subset(des, answered))               (the not-shown are outside the domain)
#   all:   svymean(~y, subset(des, answered | not_shown))   (y = 0 for the not-shown)
# — domains of the whole unit's design, not the rows dropped first. Means are given for "shown"
# only. Unit ALL: all units pooled, each unit a stratum post-stratified on unit x group.
suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "fail")

groups <- c("企业", "群众", "服务对象", "人大代表")
shares <- c(0.3, 0.4, 0.2, 0.1)
units <- sprintf("C%02d", 1:5)
size <- c(C01 = 70, C02 = 55, C03 = 90, C04 = 40, C05 = 3)
reasons <- c("a", "b", "c", "d", "e", "f")

set.seed(20261218)
rows <- list(); items <- list(); rid <- 0
add_item <- function(id, u, item, value, hidden) {
  items[[length(items) + 1]] <<- data.frame(respondent_id = id, unit = u, item = item, value = value,
                                            not_shown = hidden, stringsAsFactors = FALSE)
}
for (u in units) {
  for (k in seq_len(size[[u]])) {
    rid <- rid + 1
    id <- sprintf("P%04d", rid)
    g <- sample(groups, 1, prob = c(0.25, 0.35, 0.3, 0.1))
    if (u == "C05") g <- groups[k]
    gi <- match(g, groups)
    level <- pmin(5, pmax(1, round(rnorm(2, 3.6 - 0.3 * gi, 1.3))))
    if (u == "C05") level <- c(c(1, 4, 2)[k], 3)
    rows[[length(rows) + 1]] <- data.frame(respondent_id = id, unit = u, group = g, question = c("Q1", "Q2"),
                                           level = level, stringsAsFactors = FALSE)
    if (any(level <= 2)) {
      if (runif(1) < 0.9) {
        chosen <- reasons[runif(6) < c(0.5, 0.35 + 0.05 * gi, 0.25, 0.2, 0.1, 0.08)]
        if (length(chosen) == 0) chosen <- "b"
        for (r in chosen) add_item(id, u, "B", r, 0)
      }
    } else add_item(id, u, "B", "", 1)
    if (level[1] >= 4) {
      if (runif(1) < 0.92) add_item(id, u, "S", sample(c("1", "2", "3"), 1, prob = c(0.5 + 0.08 * gi, 0.3 - 0.05 * gi, 0.2 - 0.03 * gi)), 0)
    } else add_item(id, u, "S", "", 1)
    if (level[2] <= 3) {
      if (runif(1) < 0.88) add_item(id, u, "Z", as.character(min(10, max(0, round(rnorm(1, 8 - gi, 2.5))))), 0)
    } else add_item(id, u, "Z", "", 1)
  }
}
# Records of someone outside every unit's index sample: no weight, left out.
add_item("P9999", "C01", "B", "a", 0)
add_item("P9998", "C01", "S", "", 1)
responses <- do.call(rbind, rows)
answers <- do.call(rbind, items)
write.csv(responses, "conditional_responses.csv", row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")
write.csv(answers, "conditional_answers.csv", row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")

fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
out <- list()
emit <- function(unit, item, domain, stat, est, se, n) {
  out[[length(out) + 1]] <<- data.frame(unit = unit, item = item, domain = domain, statistic = stat, n = n,
                                        estimate = fmt(est), se = fmt(se), stringsAsFactors = FALSE)
}
variables <- function(resp, a) {
  has <- function(item, hidden) resp$respondent_id %in% a$respondent_id[a$item == item & a$not_shown == hidden]
  pick <- function(item, v) resp$respondent_id %in% a$respondent_id[a$item == item & a$value == v & a$not_shown == 0]
  value_of <- function(item) {
    b <- a[a$item == item & a$not_shown == 0, ]
    as.numeric(b$value[match(resp$respondent_id, b$respondent_id)])
  }
  for (item in c("B", "S", "Z")) {
    resp[[paste0("x", item)]] <- has(item, 0)
    resp[[paste0("h", item)]] <- has(item, 1)
    resp[[paste0("a", item)]] <- has(item, 0) | has(item, 1)
  }
  for (v in reasons) resp[[paste0("B", v)]] <- as.numeric(pick("B", v))
  for (v in c("1", "2", "3")) resp[[paste0("S", v)]] <- as.numeric(pick("S", v))
  resp$Sscore <- ifelse(resp$xS, c(100, 50, 0)[value_of("S")], 0)
  resp$Zv <- ifelse(resp$xZ, value_of("Z"), 0)
  for (v in 0:10) resp[[paste0("Z", v)]] <- as.numeric(resp$xZ & resp$Zv == v)
  resp
}
statistics <- list(
  B = c(setNames(paste0("B", reasons), paste0("share:", reasons))),
  S = c(setNames(paste0("S", 1:3), paste0("share:", 1:3)), mean = "Sscore"),
  Z = c(setNames(paste0("Z", 0:10), paste0("share:", 0:10)), mean = "Zv")
)
estimate_all <- function(unit, des, resp, single_unit) {
  for (item in names(statistics)) {
    emit(unit, item, "count", "not_shown", sum(resp[[paste0("h", item)]]), NA, sum(resp[[paste0("h", item)]]))
    for (domain in c("shown", "all")) {
      inside <- resp[[paste0(if (domain == "shown") "x" else "a", item)]]
      stats <- statistics[[item]]
      for (stat in names(stats)) {
        if (domain == "all" && stat == "mean") next
        m <- svymean(as.formula(paste0("~", stats[[stat]])), subset(des, inside))
        se <- if (single_unit && nrow(resp) < 2) NA else SE(m)[[1]]
        emit(unit, item, domain, stat, coef(m)[[1]], se, sum(inside))
      }
    }
  }
}
for (u in units) {
  resp <- variables(unique(responses[responses$unit == u, c("respondent_id", "group")]), answers[answers$unit == u, ])
  present <- groups[groups %in% resp$group]
  pop <- data.frame(group = present, Freq = shares[match(present, groups)] / sum(shares[match(present, groups)]) * nrow(resp))
  des <- postStratify(svydesign(ids = ~1, weights = ~1, data = resp), ~group, pop)
  estimate_all(u, des, resp, TRUE)
}
all_resp <- do.call(rbind, lapply(units, function(u) {
  resp <- variables(unique(responses[responses$unit == u, c("respondent_id", "unit", "group")]), answers[answers$unit == u, ])
  resp$cell <- paste(u, resp$group)
  resp
}))
pops <- do.call(rbind, lapply(units, function(u) {
  resp <- unique(responses[responses$unit == u, c("respondent_id", "group")])
  present <- groups[groups %in% resp$group]
  data.frame(cell = paste(u, present), Freq = shares[match(present, groups)] / sum(shares[match(present, groups)]) * nrow(resp))
}))
options(survey.lonely.psu = "remove")
pooled <- postStratify(svydesign(ids = ~1, strata = ~unit, weights = ~1, data = all_resp), ~cell, pops)
estimate_all("ALL", pooled, all_resp, FALSE)
write.csv(do.call(rbind, out), "conditional_expected.csv", row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")
