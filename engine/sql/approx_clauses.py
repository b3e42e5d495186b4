"""Dawn's clauses for answers within a stated error (issue 8/11), read off the end of a query.

    SELECT AVG(x) FROM t [WHERE ...]  ERROR WITHIN e [RELATIVE] AT CONFIDENCE p%
    SELECT ... FROM v WHERE pred ... LIMIT k GAP g
    SELECT ... FROM t WHERE pred      RECALL TARGET r WITH PROBABILITY p ORACLE LIMIT n
    SELECT ... FROM t WHERE pred      PRECISION TARGET r WITH PROBABILITY p ORACLE LIMIT n
    ... USING PROXY expr              (with any of them)

The clauses follow the query (``GAP`` right after ``LIMIT k``), in any order, each at most once.
``Dawn.Parser`` calls ``extract`` on a statement's tokens before parsing it: the clauses' tokens
are removed, the rest parses as DuckDB SQL, and the ``ApproxClause`` is kept in the query's
``meta["dawn_approx"]`` for the binder (engine/sql/bind/approx.py). Each malformed clause is a
syntax error at its own token, in the user's words (a confidence outside (0, 100), a negative
error, GAP without LIMIT, a target without a budget...).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sqlglot.tokens import TokenType

META_KEY = "dawn_approx"

# the words that open a clause (GAP is recognised only as LIMIT k GAP g)
OPENERS = {("ERROR", "WITHIN"), ("RECALL", "TARGET"), ("PRECISION", "TARGET"), ("ORACLE", "LIMIT"),
           ("USING", "PROXY")}


@dataclass
class ApproxClause:
    error: float | None = None          # ERROR WITHIN e
    relative: bool = False
    confidence: float | None = None     # as a probability (95% -> 0.95)
    gap: int | None = None              # LIMIT k GAP g
    limit: int | None = None            # the k of LIMIT k GAP g (as written)
    target_kind: str | None = None      # "recall" | "precision"
    target: float | None = None
    probability: float | None = None    # WITH PROBABILITY p
    oracle_limit: int | None = None     # ORACLE LIMIT n
    proxy: object = None                # USING PROXY expr (a sqlglot expression)
    proxy_sql: str = ""

    @property
    def kind(self) -> str:
        """"aggregate" (ERROR WITHIN), "limit" (LIMIT k [GAP g] ranked by a proxy) or "select"
        (a recall or precision target)."""
        if self.error is not None:
            return "aggregate"
        if self.target_kind is not None:
            return "select"
        return "limit"

    def describe(self) -> str:
        parts = []
        if self.error is not None:
            parts.append(f"ERROR WITHIN {self.error:g}{' RELATIVE' if self.relative else ''} "
                         f"AT CONFIDENCE {self.confidence * 100:g}%")
        if self.gap is not None:
            parts.append(f"GAP {self.gap}")
        if self.target_kind is not None:
            parts.append(f"{self.target_kind.upper()} TARGET {self.target:g} WITH PROBABILITY "
                         f"{self.probability:g}")
        if self.oracle_limit is not None:
            parts.append(f"ORACLE LIMIT {self.oracle_limit}")
        if self.proxy is not None:
            parts.append(f"USING PROXY {self.proxy_sql}")
        return " ".join(parts)


def _words(tokens, i: int) -> tuple[str, str]:
    a = tokens[i].text.upper() if i < len(tokens) else ""
    b = tokens[i + 1].text.upper() if i + 1 < len(tokens) else ""
    return a, b


def _is_number(tok) -> bool:
    return tok is not None and tok.token_type == TokenType.NUMBER


def _opens(tokens, i: int) -> bool:
    """Whether a clause starts at token ``i``."""
    if _words(tokens, i) in OPENERS:
        return True
    return tokens[i].text.upper() == "GAP" and i + 1 < len(tokens) and (
        _is_number(tokens[i + 1]) or tokens[i + 1].token_type == TokenType.DASH)


def extract(parser, tokens: list) -> tuple[list, ApproxClause | None]:
    """(the tokens without Dawn's clauses, the clauses) for one statement's tokens; raises the
    parser's syntax error at a malformed clause."""
    depth, start = 0, None
    for i, tok in enumerate(tokens):
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
        elif tok.token_type == TokenType.R_PAREN:
            depth -= 1
        elif _opens(tokens, i):
            if depth > 0:
                word = " ".join(w for w in _words(tokens, i) if w) if tok.text.upper() != "GAP" else "GAP"
                parser.raise_error(f"{word} applies to the outermost query, not to a subquery or "
                                   "an expression inside parentheses", tok)
            start = i
            break
    if start is None:
        return tokens, None
    clause = ApproxClause()
    _TailParser(parser, tokens, start, clause).run()
    depth, limited = 0, False
    for tok in tokens[:start]:
        depth += (tok.token_type == TokenType.L_PAREN) - (tok.token_type == TokenType.R_PAREN)
        limited |= depth == 0 and tok.token_type == TokenType.LIMIT
    _check(parser, tokens[start], clause, limited)
    return tokens[:start], clause


class _TailParser:
    def __init__(self, parser, tokens, start, clause: ApproxClause):
        self.p, self.t, self.i, self.c = parser, tokens, start, clause
        self.seen: set[str] = set()

    def tok(self, k: int = 0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def word(self, k: int = 0) -> str:
        t = self.tok(k)
        return t.text.upper() if t is not None else ""

    def error(self, msg: str, tok=None):
        self.p.raise_error(msg, tok if tok is not None else (self.tok() or self.t[-1]))

    def expect(self, *words: str, context: str) -> None:
        for w in words:
            if self.word() != w:
                got = self.tok()
                self.error(f"Expected {' '.join(words)} in {context}, got "
                           + (f"'{got.text}'" if got is not None else "the end of the statement"))
            self.i += 1

    def number(self, context: str, allow_negative: bool = False) -> float:
        """A number literal (a leading minus is read so that its message can name it)."""
        neg = False
        if self.tok() is not None and self.tok().token_type == TokenType.DASH:
            neg, first = True, self.tok()
            self.i += 1
        else:
            first = self.tok()
        t = self.tok()
        if not _is_number(t):
            self.error(f"{context} needs a number, got " + (f"'{t.text}'" if t is not None else
                                                           "the end of the statement"), t or first)
        self.i += 1
        v = float(t.text)
        return -v if neg else v

    def once(self, name: str, tok) -> None:
        if name in self.seen:
            self.error(f"{name} is given twice", tok)
        self.seen.add(name)

    def run(self) -> None:
        while self.tok() is not None:
            first = self.tok()
            w = (self.word(), self.word(1))
            if w == ("ERROR", "WITHIN"):
                self.once("ERROR WITHIN", first)
                self.i += 2
                e = self.number("ERROR WITHIN")
                if math.isnan(e) or e <= 0:
                    self.error(f"ERROR WITHIN needs a positive error, got {e:g}", first)
                self.c.error = e
                if self.word() == "RELATIVE":
                    self.c.relative = True
                    self.i += 1
                self.expect("AT", "CONFIDENCE", context="ERROR WITHIN e AT CONFIDENCE p%")
                at = self.tok()
                p = self.number("AT CONFIDENCE")
                if self.tok() is not None and self.tok().token_type == TokenType.MOD:
                    self.i += 1
                elif self.word() == "PERCENT":
                    self.i += 1
                else:
                    self.error(f"AT CONFIDENCE takes a percentage with its % sign, such as 95%; "
                               f"got {p:g}", at)
                if not 0.0 < p < 100.0:
                    self.error(f"AT CONFIDENCE needs a percentage strictly between 0 and 100, got {p:g}%", at)
                self.c.confidence = p / 100.0
            elif self.word() == "GAP":
                self.once("GAP", first)
                before = self.t[self.i - 2] if self.i >= 2 else None
                if before is None or before.token_type != TokenType.LIMIT or not _is_number(self.t[self.i - 1]):
                    self.error("GAP g goes right after LIMIT k (LIMIT k GAP g): there is no LIMIT before it", first)
                self.i += 1
                g = self.number("GAP")
                if g < 0 or g != int(g):
                    self.error(f"GAP needs a whole number of rows, zero or more, got {g:g}", first)
                self.c.gap = int(g)
                self.c.limit = int(float(self.t[self.i - 3].text))
            elif w in (("RECALL", "TARGET"), ("PRECISION", "TARGET")):
                self.once("RECALL/PRECISION TARGET", first)
                self.c.target_kind = w[0].lower()
                self.i += 2
                r = self.number(f"{w[0]} TARGET")
                if not 0.0 < r < 1.0:
                    self.error(f"{w[0]} TARGET needs a fraction strictly between 0 and 1, got {r:g}", first)
                self.c.target = r
                self.expect("WITH", "PROBABILITY", context=f"{w[0]} TARGET r WITH PROBABILITY p")
                at = self.tok()
                p = self.number("WITH PROBABILITY")
                if not 0.0 < p < 1.0:
                    self.error(f"WITH PROBABILITY needs a probability strictly between 0 and 1, got {p:g}", at)
                self.c.probability = p
            elif w == ("ORACLE", "LIMIT"):
                self.once("ORACLE LIMIT", first)
                self.i += 2
                n = self.number("ORACLE LIMIT")
                if n <= 0 or n != int(n):
                    self.error(f"ORACLE LIMIT needs a positive whole number of oracle calls, got {n:g}", first)
                self.c.oracle_limit = int(n)
            elif w == ("USING", "PROXY"):
                self.once("USING PROXY", first)
                self.i += 2
                self.proxy(first)
            else:
                self.error(f"Unexpected '{first.text}' after Dawn's approximation clauses "
                           "(ERROR WITHIN, GAP, RECALL/PRECISION TARGET, ORACLE LIMIT, USING PROXY)", first)

    def proxy(self, first) -> None:
        from sqlglot import parse_one
        from sqlglot.errors import ParseError as SqlglotParseError
        begin, depth = self.i, 0
        while self.tok() is not None:
            t = self.tok()
            if t.token_type == TokenType.L_PAREN:
                depth += 1
            elif t.token_type == TokenType.R_PAREN:
                depth -= 1
            elif depth == 0 and _opens(self.t, self.i):
                break
            self.i += 1
        if self.i == begin:
            self.error("USING PROXY needs an expression (the proxy score of each row)", first)
        sql = self.p.sql or ""
        text = sql[self.t[begin].start:self.t[self.i - 1].end + 1]
        from engine.sql.dialect import Dawn
        try:
            self.c.proxy = parse_one(text, read=Dawn)
        except SqlglotParseError:
            self.error(f"USING PROXY needs an expression, got '{text}'", self.t[begin])
        self.c.proxy_sql = text


def _check(parser, first, c: ApproxClause, limited: bool) -> None:
    """Clauses that do not go together, or need one another."""
    if c.error is not None and c.target_kind is not None:
        parser.raise_error("ERROR WITHIN (an aggregate's error) and a RECALL/PRECISION TARGET (a "
                           "selection's) cannot be asked of the same query", first)
    if c.gap is not None and (c.error is not None or c.target_kind is not None):
        parser.raise_error("LIMIT k GAP g is a limit query: it does not take ERROR WITHIN or a "
                           "RECALL/PRECISION TARGET", first)
    if c.target_kind is not None and c.oracle_limit is None:
        parser.raise_error(f"{c.target_kind.upper()} TARGET needs ORACLE LIMIT n, the oracle calls "
                           "it may spend to meet the target", first)
    if c.error is None and c.target_kind is None and c.gap is None:
        what = "ORACLE LIMIT" if c.oracle_limit is not None else "USING PROXY"
        if c.oracle_limit is not None or c.proxy is None or not limited:
            parser.raise_error(f"{what} needs ERROR WITHIN e AT CONFIDENCE p%, LIMIT k [GAP g], or a "
                               "RECALL/PRECISION TARGET to go with it", first)
