"""The functions the fuzzer calls (tests/fuzz_gen.py), as templates grouped into feature switches.

Every entry is ``(name, group, kind, template)``: the call belongs to switch ``group`` (e.g.
``fn_string``) and to its own switch ``fn:<name>``; it is generated when either is enabled.
``kind`` is the result kind (``*`` = the kind the caller asks for). In a template, ``$x`` for a
kind letter x is a random expression of that kind, ``$x0`` a leaf (a column or a literal),
``$SAME`` an expression of the caller's kind, and an upper-case ``$NAME`` a literal drawn from
``POOLS``. The list is the issue's "functions users reach for first" (ISSUE_5_11.md).

Value domains are chosen so most calls succeed on both engines (logs of ``abs(x) + 1``, small
repeat counts), with a raw call now and then so errors must agree too.
"""
from __future__ import annotations

POOLS: dict[str, list[str]] = {
    "N": ["0", "1", "2", "3"],
    "Z": ["(-2)", "(-1)", "0", "1", "2", "3"],                  # indexes and split positions
    "RD": ["0", "2", "(-1)", "(-2)", "CAST(NULL AS INTEGER)"],  # round digits (not 1: 0.25 -> 0.3)
    "STR": ["'a'", "'b'", "'ab'", "''", "'é'", "'B'"],
    "SEP": ["','", "'a'", "' '", "''", "'b'"],
    "CHARS": ["'a'", "'ab'", "' '", "'b '"],
    "PAT": ["'a'", "'a+'", "'^a'", "'b$'", "'[ab]'", "'.'", "'a|b'", "'(a)(b)?'", "'A'", "'^$'"],
    "REP": ["'x'", "''", "'<\\0>'"],
    "DPART": ["'year'", "'month'", "'day'", "'quarter'", "'week'", "'dow'", "'doy'", "'isodow'"],
    "TPART": ["'hour'", "'minute'", "'second'", "'day'", "'month'", "'year'"],
    "TPARTW": ["hour", "minute", "second", "day", "month", "year", "dow"],
    "FMT": ["'%d/%m/%Y'", "'%Y-%m-%d'", "'%A'", "'%B %d'", "'%j'", "'%H:%M'", "'%Y%m%d'", "'%y'",
            "'%a %b %e'", "'%Y-%m-%d %H:%M:%S'", "'%W'", "'%%'"],
    "YEAR": ["2000", "2024", "1999", "2030"],
    "MONTH": ["1", "2", "12"],
    "DAY": ["1", "15", "28"],
    "SEC": ["0", "30.5", "59"],
    "FRAC": ["0.0", "0.25", "0.5", "0.75", "1.0"],
}

SCALARS: list[tuple[str, str, str, str]] = [
    # -- numeric
    ("typeof", "fn_math", "s", "typeof($i)"),
    ("typeof", "fn_math", "s", "typeof($f)"),
    ("typeof", "fn_math", "s", "typeof($s)"),
    ("typeof", "fn_math", "s", "typeof($d)"),
    ("typeof", "fn_math", "s", "typeof($b)"),
    ("abs", "fn_math", "m", "abs($m)"),
    ("ceil", "fn_math", "f", "ceil($f)"),
    ("ceil", "fn_math", "f", "ceiling($f)"),
    ("floor", "fn_math", "f", "floor($f)"),
    ("round", "fn_math", "f", "round($f, $RD)"),
    ("round", "fn_math", "i", "round($i, $RD)"),
    ("trunc", "fn_math", "f", "trunc($f)"),
    ("trunc", "fn_math", "i", "trunc($i)"),
    ("sign", "fn_math", "i", "sign($f)"),
    ("sqrt", "fn_math", "f", "sqrt(abs($f))"),
    ("sqrt", "fn_math", "f", "sqrt($f)"),
    ("cbrt", "fn_math", "f", "cbrt($f)"),
    ("exp", "fn_math", "f", "exp($f0)"),
    ("ln", "fn_math", "f", "ln(abs($f) + 1)"),
    ("ln", "fn_math", "f", "ln($f0)"),
    ("log", "fn_math", "f", "log(abs($f) + 1)"),
    ("log2", "fn_math", "f", "log2(abs($f) + 1)"),
    ("log10", "fn_math", "f", "log10(abs($f) + 1)"),
    ("pow", "fn_math", "f", "pow($f, $N)"),
    ("pow", "fn_math", "f", "power(abs($f), 0.5)"),
    ("mod", "fn_math", "i", "mod($i, NULLIF($i0, 0))"),
    ("mod", "fn_math", "f", "mod($f, NULLIF($f0, 0))"),
    ("pi", "fn_math", "f", "(pi() * $f)"),
    ("isnan", "fn_math", "b", "isnan(sqrt($f))"),
    ("isinf", "fn_math", "b", "isinf(ln(abs($f)))"),
    ("random", "fn_math", "f", "floor(random())"),
    ("random", "fn_math", "b", "(random() < 1.0)"),
    ("setseed", "fn_math", "b", "(setseed(0.5) IS NULL)"),
    # -- strings
    ("trim", "fn_string", "s", "trim($s, $CHARS)"),
    ("ltrim", "fn_string", "s", "ltrim($s, $CHARS)"),
    ("rtrim", "fn_string", "s", "rtrim($s, $CHARS)"),
    ("concat_ws", "fn_string", "s", "concat_ws($SEP, $s, $s)"),
    ("concat_ws", "fn_string", "s", "concat_ws($SEP, $s, $i, $s)"),
    ("repeat", "fn_string", "s", "repeat($s, $N)"),
    ("instr", "fn_string", "i", "instr($s, $STR)"),
    ("position", "fn_string", "i", "position($STR IN $s)"),
    ("strpos", "fn_string", "i", "strpos($s, $STR)"),
    ("ends_with", "fn_string", "b", "ends_with($s, $STR)"),
    ("starts_with", "fn_string", "b", "starts_with($s, $STR)"),
    ("contains", "fn_string", "b", "contains($s, $STR)"),
    ("split_part", "fn_string", "s", "split_part($s, $SEP, $Z)"),
    ("string_split", "fn_string", "i", "len(string_split($s, $SEP))"),
    ("string_split", "fn_string", "s", "string_split($s, $SEP)[$Z]"),
    ("ascii", "fn_string", "i", "ascii($s)"),
    ("chr", "fn_string", "s", "chr(abs($i) % 26 + 65)"),
    ("format", "fn_string", "s", "format('{}-{}', $s, $i)"),
    ("printf", "fn_string", "s", "printf('%s-%d', $s, $i)"),
    ("printf", "fn_string", "s", "printf('%.2f|%5s', $f, $s)"),
    ("concat", "fn_string", "s", "concat($s, $f)"),
    ("concat", "fn_string", "s", "($s || $f)"),
    ("lpad", "fn_string", "s", "lpad($s, $N, 'xy')"),
    ("rpad", "fn_string", "s", "rpad($s, $N, 'xy')"),
    ("reverse", "fn_string", "s", "reverse($s)"),
    ("length", "fn_string", "i", "length($s)"),
    ("replace_empty", "fn_string", "s", "replace($s, '', 'x')"),  # Arrow loops forever today
    # -- hashes (DuckDB's own hash function: only equal if implemented bit for bit)
    ("md5", "fn_hash", "s", "md5($s)"),
    ("sha256", "fn_hash", "s", "sha256($s)"),
    ("hash", "fn_hash", "i", "CAST(hash($s) % 7 AS INTEGER)"),
    ("hash", "fn_hash", "i", "CAST(hash($i) % 7 AS INTEGER)"),
    # -- regular expressions
    ("regexp_matches", "fn_regex", "b", "regexp_matches($s, $PAT)"),
    ("regexp_extract", "fn_regex", "s", "regexp_extract($s, $PAT)"),
    ("regexp_extract", "fn_regex", "s", "regexp_extract($s, '(a)(b)?', 1)"),
    ("regexp_replace", "fn_regex", "s", "regexp_replace($s, $PAT, $REP)"),
    ("regexp_replace", "fn_regex", "s", "regexp_replace($s, $PAT, $REP, 'g')"),
    ("regexp_replace", "fn_regex", "s", "regexp_replace($s, '(a)(b)?', '\\2\\1')"),
    # -- dates and timestamps
    ("current_date", "fn_date", "b", "(current_date >= DATE '2024-01-01')"),
    ("now", "fn_date", "b", "(CAST(now() AS DATE) >= DATE '2024-01-01')"),
    ("date_trunc", "fn_date", "d", "CAST(date_trunc($DPART, $d) AS DATE)"),
    ("date_trunc", "fn_date", "t", "date_trunc($TPART, $t)"),
    ("date_part", "fn_date", "i", "date_part($TPART, $t)"),
    ("extract", "fn_date", "i", "extract($TPARTW FROM $t)"),
    ("date_diff", "fn_date", "i", "date_diff($DPART, $d, $d)"),
    ("date_diff", "fn_date", "i", "datediff($TPART, $t, $t)"),
    ("date_add", "fn_date", "t", "date_add($d, INTERVAL ($N) DAY)"),
    ("date_sub", "fn_date", "i", "date_sub($DPART, $d, $d)"),
    ("strftime", "fn_date", "s", "strftime($d, $FMT)"),
    ("strftime", "fn_date", "s", "strftime($t, $FMT)"),
    ("strptime", "fn_date", "t", "strptime(strftime($t, '%d/%m/%Y %H:%M:%S'), '%d/%m/%Y %H:%M:%S')"),
    ("strptime", "fn_date", "t", "strptime('05/01/2020', '%d/%m/%Y')"),
    ("epoch", "fn_date", "f", "epoch($t)"),
    ("epoch_ms", "fn_date", "i", "(epoch_ms($t) // 1000)"),
    ("make_date", "fn_date", "d", "make_date($YEAR, $MONTH, $DAY)"),
    ("make_date", "fn_date", "d", "make_date(2024, abs($i) % 12 + 1, abs($i) % 28 + 1)"),
    ("make_timestamp", "fn_date", "t", "make_timestamp($YEAR, $MONTH, $DAY, $N, $N, $SEC)"),
    ("to_timestamp", "fn_date", "t", "to_timestamp($f)"),
    ("last_day", "fn_date", "d", "last_day($d)"),
    ("dayname", "fn_date", "s", "dayname($d)"),
    ("monthname", "fn_date", "s", "monthname($d)"),
    ("year", "fn_date", "i", "year($d)"),
    ("month", "fn_date", "i", "month($d)"),
    ("day", "fn_date", "i", "day($d)"),
    ("hour", "fn_date", "i", "hour($t)"),
    ("minute", "fn_date", "i", "minute($t)"),
    ("second", "fn_date", "i", "second($t)"),
    ("age", "fn_date", "s", "CAST(age($t, $t) AS VARCHAR)"),
    ("age", "fn_date", "i", "date_part('day', age($t, $t))"),
    # -- conditionals
    ("ifnull", "fn_cond", "*", "ifnull($SAME, $SAME)"),
    ("if", "fn_cond", "*", "if($b, $SAME, $SAME)"),
    # -- lists
    ("list_value", "fn_list", "i", "len([$i, $i, $i])"),
    ("list_value", "fn_list", "i", "len(list_value($s, $s))"),
    ("list_value", "fn_list", "s", "list_value($s, $s)[2]"),
    ("list_extract", "fn_list", "i", "list_extract([$i, $i], $Z)"),
    ("list_extract", "fn_list", "i", "[$i, $i, $i][$Z]"),
    ("list_contains", "fn_list", "b", "list_contains([$i, $i], $i)"),
    ("list_sum", "fn_list", "i", "list_sum([$i, $i])"),
    ("list_sort", "fn_list", "i", "list_sort([$i, $i, $i])[1]"),
    ("list_sort", "fn_list", "i", "list_sort([$i, $i, $i], 'DESC')[1]"),
    ("list_distinct", "fn_list", "i", "len(list_distinct([$i, $i, $i]))"),
    ("list_distinct", "fn_list", "i", "list_sort(list_distinct([$i, $i, NULL]))[1]"),
    # -- structs
    ("struct", "fn_struct", "i", "({'a': $i, 'b': $s}).a"),
    ("struct", "fn_struct", "s", "{'a': $i, 'b': $s}['b']"),
    ("struct_pack", "fn_struct", "i", "struct_pack(x := $i, y := $s).x"),
    ("struct_pack", "fn_struct", "s", "struct_pack(x := $i, y := $s).y"),
]

# Aggregates whose result does not depend on the order of their input. The order-dependent
# ones (arg_max, first, string_agg, list, mode, any_value) are built in fuzz_gen.Gen so their
# answer is determined (they read one column and are ordered by it, or read a group key).
AGGREGATES: list[tuple[str, str, str, str]] = [
    ("count_if", "agg_count_if", "i", "count_if($b)"),
    ("median", "agg_quantile", "f", "median($f)"),
    ("median", "agg_quantile", "f", "median($i)"),
    ("quantile_cont", "agg_quantile", "f", "quantile_cont($f, $FRAC)"),
    ("quantile_cont", "agg_quantile", "f", "quantile_cont($i, $FRAC)"),
    ("quantile_disc", "agg_quantile", "i", "quantile_disc($i, $FRAC)"),
    ("quantile_disc", "agg_quantile", "f", "quantile_disc($f, $FRAC)"),
    ("quantile_disc", "agg_quantile", "s", "quantile_disc($s, $FRAC)"),
    ("approx_count_distinct", "agg_approx", "i", "approx_count_distinct($i)"),
    ("approx_quantile", "agg_approx", "f", "approx_quantile($f, 0.5)"),
    ("stddev_pop", "agg_stats", "f", "stddev_pop($f)"),
    ("stddev_samp", "agg_stats", "f", "stddev_samp($f)"),
    ("stddev_samp", "agg_stats", "f", "stddev($f)"),
    ("var_pop", "agg_stats", "f", "var_pop($f)"),
    ("var_samp", "agg_stats", "f", "var_samp($i)"),
    ("var_samp", "agg_stats", "f", "variance($f)"),
    ("corr", "agg_stats", "f", "corr($f, $f)"),
    ("covar_pop", "agg_stats", "f", "covar_pop($f, $i)"),
    ("covar_samp", "agg_stats", "f", "covar_samp($f, $f)"),
    ("regr_slope", "agg_stats", "f", "regr_slope($f, $f)"),
    ("regr_intercept", "agg_stats", "f", "regr_intercept($f, $i)"),
    ("product", "agg_bits", "f", "product($f)"),
    ("product", "agg_bits", "f", "product($i0)"),
    ("bit_and", "agg_bits", "i", "bit_and($i)"),
    ("bit_or", "agg_bits", "i", "bit_or($i)"),
]

GROUPS = sorted({g for _, g, _, _ in SCALARS + AGGREGATES}
                | {"agg_arg", "agg_ordered", "agg_mode"})
NAMES = sorted({n for n, _, _, _ in SCALARS + AGGREGATES}
               | {"arg_max", "arg_min", "max_by", "min_by", "first", "last", "any_value",
                  "string_agg", "list", "array_agg", "mode", "unnest"})
