//! Unit tests on whole lines (see also the per-module tests).
