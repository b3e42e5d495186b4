"""Weak supervision in SQL: label YouTube comments as spam without hand labels, then train a
classifier on those labels, all in queries.

Data: the UCI YouTube Spam Collection (Alberto, Lochter and Almeida, "TubeSpam: Comment Spam
Filtering on YouTube", ICMLA 2015), 1,956 comments with gold labels; files 01-04 are the train
split, 05 the test split, as in Snorkel's spam tutorial. The gold labels are used only to score.

1. Ten labeling functions (LFs): keyword and regular-expression LFs written in SQL (CASE ...),
   and regex, lexicon and length LFs as UDFs (udfs/text_lfs.py); each votes 'spam', 'ham' or
   abstains (NULL).
2. ``LF_SUMMARY``: per LF its polarity, coverage, overlaps, conflicts and, against gold,
   its accuracy, beside the label model's estimate of it (made without gold).
3. ``CREATE LABEL MODEL spam_lm``: learns how far to trust each LF; ``spam_lm(...)`` labels
   rows; its accuracy beside ``MAJORITY_VOTE``'s on the covered train rows and the test split.
4. ``CREATE MODEL spam_clf``: a logistic regression over ``text_features(content)`` trained on the
   label model's labels, scored on the test split; and ``spam_clf_soft`` trained on its
   probabilities (the expected cross-entropy under them). Here the labels do better: these LFs
   are unipolar and their errors cluster (ham LFs are wrong mostly where spam LFs fire), so the
   label model finds the ham LFs near chance and its ham probabilities are timid (0.55), which a
   soft-label end model learns as "spam unless sure".

    python examples/spam.py [DATA_DIR]     (default: $DAWN_YOUTUBE_SPAM or ../shared/data/youtube-spam)
"""
from __future__ import annotations

import glob
import os
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

import engine
from udfs.text_lfs import keyword_lf, length_lf, lexicon_lf, regex_lf

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.environ.get("DAWN_YOUTUBE_SPAM") or os.path.join(HERE, "..", "..", "shared", "data", "youtube-spam")
LABELS = ["ham", "spam"]

UDF_LFS = [
    regex_lf("lf_link", r"https?://|www\.|\.com\b", "spam", LABELS),
    keyword_lf("lf_subscribe", ["subscribe", "subscribers", "sub", "subs"], "spam", LABELS),
    length_lf("lf_short", 5, "ham", LABELS),
    lexicon_lf("lf_praise", ["love", "best", "awesome", "beautiful", "amazing", "legend", "favorite",
                             "favourite", "perfect", "voice", "catchy", "masterpiece"], "ham", LABELS),
]

# name -> SQL expression over ``content``
SQL_LFS = {
    "lf_my": "CASE WHEN regexp_matches(lower(content), '\\bmy\\b') THEN 'spam' END",
    "lf_check_out": "CASE WHEN regexp_matches(lower(content), 'check.*out') THEN 'spam' END",
    "lf_please": "CASE WHEN regexp_matches(lower(content), '\\b(please|plz|pls)\\b') THEN 'spam' END",
    "lf_channel": "CASE WHEN lower(content) LIKE '%channel%' THEN 'spam' END",
    "lf_song": "CASE WHEN regexp_matches(lower(content), '\\bsong\\b') THEN 'ham' END",
    "lf_views": "CASE WHEN regexp_matches(lower(content), '\\b(billion|views)\\b') "
                "AND NOT regexp_matches(lower(content), 'my|check|http') THEN 'ham' END",
}
LF_NAMES = [u.name for u in UDF_LFS] + list(SQL_LFS)
LF_LIST = ", ".join(LF_NAMES)
COVERED = "coalesce(" + ", ".join(LF_NAMES) + ") IS NOT NULL"


def load(con, data_dir: str = DEFAULT_DATA) -> int:
    """Register the comments as ``comments`` (split, gold, content) and the LFs; returns rows."""
    files = sorted(glob.glob(os.path.join(data_dir, "Youtube0*.csv")))
    if len(files) != 5:
        raise FileNotFoundError(f"the YouTube spam CSVs (Youtube01..05) are not in {data_dir}")
    parts = []
    for f in files:
        t = pacsv.read_csv(f, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                           convert_options=pacsv.ConvertOptions(column_types={"DATE": pa.string()}))
        split = "test" if os.path.basename(f).startswith("Youtube05") else "train"
        parts.append(pa.table({
            "comment_id": t.column("COMMENT_ID").cast(pa.string()),
            "split": pa.array([split] * t.num_rows),
            "gold": pc.if_else(pc.equal(t.column("CLASS"), 1), "spam", "ham"),
            "content": t.column("CONTENT").cast(pa.string())}))
    comments = pa.concat_tables(parts)
    con.register("comments", comments)
    for u in UDF_LFS:
        con.register_function(u)
    lf_cols = [f"{u.name}(content) AS {u.name}" for u in UDF_LFS] + [f"{e} AS {n}" for n, e in SQL_LFS.items()]
    con.execute("CREATE OR REPLACE VIEW votes AS SELECT comment_id, split, gold, content, "
                + ", ".join(lf_cols) + " FROM comments")
    return comments.num_rows


STEPS = [
    ("The labeling functions on the train split, against gold (LF_SUMMARY)",
     f"SELECT lf, polarity, round(coverage, 3) AS coverage, round(conflicts, 3) AS conflicts, "
     f"round(empirical_accuracy, 3) AS accuracy, round(estimated_accuracy, 3) AS estimated "
     f"FROM (SELECT LF_SUMMARY({LF_LIST}, gold := gold) FROM votes WHERE split = 'train')"),
    ("A label model fitted on the train split's votes, no gold labels (CREATE LABEL MODEL)",
     f"CREATE OR REPLACE LABEL MODEL spam_lm AS SELECT {LF_LIST} FROM votes WHERE split = 'train'"),
    ("What it learned: each LF's estimated accuracy (dawn.label_model_lfs)",
     "SELECT lf, round(estimated_accuracy, 3) AS estimated_accuracy, round(coverage, 3) AS coverage "
     "FROM dawn.label_model_lfs WHERE model = 'spam_lm' ORDER BY estimated_accuracy DESC"),
    ("Label model against majority vote on the rows some LF covers",
     f"SELECT split, count(*) AS covered_rows, "
     f"round(avg((lm.label = gold)::INT), 4) AS label_model_accuracy, "
     f"round(avg((mv.label = gold)::INT), 4) AS majority_vote_accuracy "
     f"FROM (SELECT split, gold, spam_lm({LF_LIST}) AS lm, "
     f"MAJORITY_VOTE({LF_LIST}) OVER (PARTITION BY split) AS mv FROM votes WHERE {COVERED}) "
     f"GROUP BY split ORDER BY split DESC"),
    ("An end model on hashed n-grams, trained on the label model's labels of the covered train rows",
     f"CREATE OR REPLACE MODEL spam_clf WITH (kind = 'logistic') AS "
     f"SELECT text_features(content) AS features, spam_lm({LF_LIST}).label AS label "
     f"FROM votes WHERE split = 'train' AND {COVERED}"),
    ("The same trained on its probabilities (the expected loss under them)",
     f"CREATE OR REPLACE MODEL spam_clf_soft WITH (kind = 'logistic') AS "
     f"SELECT text_features(content) AS features, spam_lm({LF_LIST}) AS label "
     f"FROM votes WHERE split = 'train' AND {COVERED}"),
    ("The end models on the test split (gold labels only to score)",
     "SELECT count(*) AS test_rows, round(avg((spam_clf(text_features(content)).label = gold)::INT), 4) "
     "AS end_model_accuracy, round(avg((spam_clf_soft(text_features(content)).label = gold)::INT), 4) "
     "AS soft_label_end_model_accuracy FROM votes WHERE split = 'test'"),
]


def run(con, data_dir: str = DEFAULT_DATA, out=sys.stdout) -> dict:
    """Load, run every step with its result printed; returns the figures of steps 4 and 6."""
    from engine.interfaces.render import render_table
    load(con, data_dir)
    figures = {}
    for title, sql in STEPS:
        print(f"== {title}\n{sql}", file=out)
        t0 = time.perf_counter()
        cur = con.cursor()
        cur.execute(sql)
        if cur.description is not None:
            table = cur.fetch_arrow_table()
            print(render_table(table), file=out)
            if "label_model_accuracy" in table.column_names:
                for row in table.to_pylist():
                    figures[row["split"]] = (row["label_model_accuracy"], row["majority_vote_accuracy"])
            if "end_model_accuracy" in table.column_names:
                figures["end_model"] = table.column("end_model_accuracy")[0].as_py()
        print(f"({(time.perf_counter() - t0) * 1000:.0f} ms)\n", file=out)
    return figures


def main() -> None:
    data_dir = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DATA
    con = engine.connect()
    figures = run(con, data_dir)
    lm_tr, mv_tr = figures["train"]
    lm_te, mv_te = figures["test"]
    print(f"label model {lm_tr:.4f} vs majority vote {mv_tr:.4f} on covered train rows, "
          f"{lm_te:.4f} vs {mv_te:.4f} on covered test rows; end model {figures['end_model']:.4f} on the test split")


if __name__ == "__main__":
    main()
