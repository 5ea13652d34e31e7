# Golden files for the thin-cell collapse rule (analysis/cells.py), made with R's survey package.
#
#   cd tests/analysis/reference && Rscript make_thin_cells.R
#
# writes thin_cells_responses.csv (the answers), thin_cells_targets.json (group and channel shares)
# and, for the rule without and with the analyst's designations (thin_cells_collapse.txt), the
# expected cells and estimates per unit: thin_cells_expected.csv and
# thin_cells_expected_designated.csv (post-stratified by group), thin_cells_expected_rake.csv
# (raked on group and channel, each margin collapsed by the same rule, no designations).
# The rule is implemented here again, independently of the Python engine; the estimates are
# svydesign + postStratify (or calibrate(calfun = "raking")) on the collapsed cells + svyratio,
# each unit a sample of its own.
suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "fail")

groups <- c("企业", "群众", "服务对象", "人大代表", "政协委员")
shares <- c(0.3, 0.4, 0.15, 0.08, 0.07)
channels <- c("窗口二维码", "网上", "电话")
channel_shares <- c(0.5, 0.3, 0.2)
min_cell_n <- 5
questions <- c("Q1", "Q2", "Q3")
scores <- c(0, 25, 50, 75, 100)

# Respondents per group in each unit (企业, 群众, 服务对象, 人大代表, 政协委员).
design_counts <- list(
  T01 = c(12, 14, 6, 5, 5),  # no thin cell: weighted as without the rule
  T02 = c(20, 15, 3, 2, 1),  # three thin groups pool into one "other" cell
  T03 = c(10, 8, 0, 1, 0),   # one thin group joins the smallest other cell
  T04 = c(0, 12, 0, 0, 0),   # all respondents in one group: unweighted
  T05 = c(1, 1, 0, 0, 0),    # n = 2: one cell, unweighted, SE of a mean of 2
  T06 = c(0, 0, 1, 0, 0),    # n = 1: no SE
  T07 = c(1, 1, 1, 0, 0),    # three ratings in three groups: one cell, unweighted
  T08 = c(2, 2, 2, 2, 2),    # every group thin: pooled step by step down to one cell
  T09 = c(30, 4, 9, 0, 3),   # two thin groups pool to 7 (no designation)
  T10 = c(6, 25, 2, 3, 0)    # thin groups pool into 服务对象 + 人大代表 = 5
)
# The analyst's designations: 政协委员 -> 人大代表, 人大代表 -> 企业, 服务对象 -> 群众.
designated <- c("政协委员" = "人大代表", "人大代表" = "企业", "服务对象" = "群众")

set.seed(20261206)
rows <- list()
rid <- 0
for (unit in names(design_counts)) {
  counts <- design_counts[[unit]]
  for (g in seq_along(groups)) {
    for (k in seq_len(counts[g])) {
      rid <- rid + 1
      centre <- c(4.2, 3.6, 3.9, 3.0, 2.6)[g]
      level <- pmin(5, pmax(1, round(rnorm(length(questions), centre, 1))))
      if (sum(counts) >= 10) level[runif(length(questions)) < 0.1] <- NA
      rows[[length(rows) + 1]] <- data.frame(
        respondent_id = sprintf("R%04d", rid), unit = unit, group = groups[g],
        channel = sample(channels, 1, prob = c(0.6, 0.3, 0.1)), question = questions, level = level,
        stringsAsFactors = FALSE
      )
    }
  }
}
responses <- do.call(rbind, rows)
out <- responses
out$level <- ifelse(is.na(out$level), "", as.character(out$level))
write.csv(out, "thin_cells_responses.csv", row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")
writeLines(c("{",
             paste0(' "group": {', paste(sprintf('"%s": %s', groups, shares), collapse = ", "), "},"),
             paste0(' "channel": {', paste(sprintf('"%s": %s', channels, channel_shares), collapse = ", "), "}"),
             "}"), "thin_cells_targets.json", useBytes = TRUE)
writeLines(sprintf("group:%s=%s", names(designated), designated), "thin_cells_collapse.txt", useBytes = TRUE)

# The collapse rule: while a cell has fewer than min_cell_n respondents and two cells or more
# remain, merge the thin cell with the fewest respondents (ties: lowest group code) into the cell
# of the group designated for one of its groups (groups in code order, designations followed
# through absent groups and groups of the same cell), else into the smallest other cell (ties:
# lowest code).  A cell is named by the group that absorbed the others.
collapse <- function(counts, into, levels = groups) {
  head <- ifelse(counts > 0, seq_along(counts), NA)
  heads <- function() sort(unique(head[!is.na(head)]))
  size <- function(h) sum(counts[which(head == h)])
  repeat {
    hs <- heads()
    if (length(hs) < 2) break
    sizes <- sapply(hs, size)
    thin <- hs[sizes < min_cell_n]
    if (length(thin) == 0) break
    h <- thin[order(sapply(thin, size), thin)][1]
    dest <- NA
    for (g in which(head == h)) {
      seen <- g
      t <- into[levels[g]]
      while (!is.na(t) && !(match(t, levels) %in% seen)) {
        tc <- match(t, levels)
        if (!is.na(head[tc]) && head[tc] != h) { dest <- head[tc]; break }
        seen <- c(seen, tc)
        t <- into[levels[tc]]
      }
      if (!is.na(dest)) break
    }
    if (is.na(dest)) {
      others <- hs[hs != h]
      dest <- others[order(sapply(others, size), others)][1]
    }
    head[which(head == h)] <- dest
  }
  head
}

describe_cells <- function(head, levels = groups) {
  hs <- sort(unique(head[!is.na(head)]))
  paste(sapply(hs, function(h) paste(levels[c(h, setdiff(which(head == h), h))], collapse = "+")), collapse = ";")
}

# Population totals of a margin's collapsed cells: renormalised shares summed per cell, times n.
cell_totals <- function(counts, head, level_shares, levels, n) {
  renorm <- level_shares[counts > 0] / sum(level_shares[counts > 0])
  pop <- aggregate(renorm, by = list(cell = levels[head[counts > 0]]), FUN = sum)
  setNames(pop$x * n, pop$cell)
}

fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

estimate_unit <- function(unit, into, method = "poststratify") {
  d <- responses[responses$unit == unit, ]
  resp <- unique(d[, c("respondent_id", "group", "channel")])
  counts <- sapply(groups, function(g) sum(resp$group == g))
  head <- collapse(counts, into)
  resp$cell <- groups[head[match(resp$group, groups)]]
  ccounts <- sapply(channels, function(g) sum(resp$channel == g))
  chead <- collapse(ccounts, character(0), channels)
  resp$ccell <- channels[chead[match(resp$channel, channels)]]
  for (q in questions) {
    lv <- d$level[d$question == q][match(resp$respondent_id, d$respondent_id[d$question == q])]
    resp[[paste0("y", q)]] <- ifelse(is.na(lv), 0, scores[pmax(lv, 1)])
    resp[[paste0("x", q)]] <- as.numeric(!is.na(lv))
    resp[[paste0("s", q)]] <- as.numeric(!is.na(lv) & lv >= 3)
  }
  resp$s <- rowSums(resp[, paste0("s", questions), drop = FALSE])
  resp$t <- rowSums(resp[, paste0("x", questions), drop = FALSE])
  resp$one <- 1
  n <- nrow(resp)
  cells_text <- describe_cells(head)
  n_cells <- length(unique(resp$cell))
  if (method == "rake") {
    cells_text <- paste(cells_text, describe_cells(chead, channels), sep = "|")
    n_cells <- paste(n_cells, length(unique(resp$ccell)), sep = "|")
  }
  answered <- questions[colSums(resp[, paste0("x", questions), drop = FALSE]) > 0]
  if (n == 1) {
    # svydesign refuses a single observation: point estimates with weight 1, no SE.
    ratios <- sapply(answered, function(q) resp[[paste0("y", q)]] / resp[[paste0("x", q)]])
    return(data.frame(
      unit = unit, n = 1, n_eff = fmt(1), index = fmt(mean(ratios)), index_se = "NA",
      satisfied_rate = fmt(resp$s / resp$t), satisfied_rate_se = "NA", n_cells = n_cells,
      cells = cells_text, stringsAsFactors = FALSE
    ))
  }
  des <- svydesign(ids = ~1, weights = ~one, data = resp)
  gpop <- cell_totals(counts, head, shares, groups, n)
  if (method == "poststratify") {
    des <- postStratify(des, ~cell, data.frame(cell = names(gpop), Freq = as.vector(gpop)))
  } else {
    # Raking on the margins that kept two cells or more (a one-cell margin is the intercept).
    cpop <- cell_totals(ccounts, chead, channel_shares, channels, n)
    margins <- list(cell = gpop, ccell = cpop)
    margins <- margins[sapply(margins, length) >= 2]
    if (length(margins) > 0) {
      for (m in names(margins)) resp[[m]] <- factor(resp[[m]], levels = names(margins[[m]]))
      des <- svydesign(ids = ~1, weights = ~one, data = resp)
      population <- c(`(Intercept)` = n, unlist(lapply(names(margins), function(m) {
        setNames(margins[[m]][-1], paste0(m, names(margins[[m]])[-1]))
      })))
      formula <- as.formula(paste("~", paste(names(margins), collapse = "+")))
      des <- calibrate(des, formula, population, calfun = "raking", epsilon = 1e-13, maxit = 1000)
    }
  }
  w <- weights(des)
  num <- as.formula(paste("~", paste0("y", answered, collapse = "+")))
  den <- as.formula(paste("~", paste0("x", answered, collapse = "+")))
  r <- svyratio(num, den, des, covmat = TRUE)
  k <- length(answered)
  diag_idx <- (seq_len(k) - 1) * k + seq_len(k)  # y_q / x_q among all k x k ratios (column-major)
  ratios <- as.vector(coef(r))[diag_idx]
  a <- rep(1 / k, k)
  index <- sum(a * ratios)
  index_var <- as.numeric(t(a) %*% vcov(r)[diag_idx, diag_idx] %*% a)
  sr <- svyratio(~s, ~t, des)
  rate <- as.numeric(coef(sr))
  rate_var <- as.numeric(vcov(sr))
  data.frame(
    unit = unit, n = n, n_eff = fmt(sum(w)^2 / sum(w^2)), index = fmt(index), index_se = fmt(sqrt(index_var)),
    satisfied_rate = fmt(rate), satisfied_rate_se = fmt(sqrt(rate_var)), n_cells = n_cells,
    cells = cells_text, stringsAsFactors = FALSE
  )
}

for (variant in list(list(file = "thin_cells_expected.csv", into = character(0), method = "poststratify"),
                     list(file = "thin_cells_expected_designated.csv", into = designated, method = "poststratify"),
                     list(file = "thin_cells_expected_rake.csv", into = character(0), method = "rake"))) {
  expected <- do.call(rbind, lapply(names(design_counts), estimate_unit, into = variant$into,
                                    method = variant$method))
  write.csv(expected, variant$file, row.names = FALSE, quote = FALSE, fileEncoding = "UTF-8")
}
