"""Answers from fewer model calls, with stated guarantees: cascade calibration (7/11) and, later,
samplers, estimators, stopping rules and SUPG (8/11)."""
