"""The results folder and the tables a run appends to, under one set of rules (``suite.storage.table``).

``results.csv`` (``suite.storage.results``) has one row per case and seed, ``formats.csv``
(``suite.storage.formats``) one per case, seed and deployed format; ``suite.storage.folder`` lays the folder out,
locks it and prepares every table. The names below are what the rest of the suite uses.
"""

from suite.storage.budgets import BUDGETS_FILE, parse_budgets, read_budgets, write_budgets
from suite.storage.folder import (
    FAILED_SOURCE,
    FOLDERS,
    LOCK_FILE,
    TABLES,
    case_file,
    failed_source,
    forget_failed_sources,
    locked,
    prepare,
    record_failed_source,
    unwritable,
)
from suite.storage.formats import (
    FORMAT_COLUMNS,
    FORMAT_IDENTITY,
    FORMATS,
    FORMATS_FILE,
    append_format_row,
    current_model_rows,
    formats_path,
    model_sha256,
    prepare_formats,
    read_formats,
)
from suite.storage.predictions import (
    OUTCOME,
    PREDICTIONS,
    by_seed,
    predictions_path,
    read_correct,
    with_outcomes,
    write_predictions,
)
from suite.storage.results import (
    COLUMNS,
    RESULTS,
    RESULTS_FILE,
    TEXT_COLUMNS,
    append_row,
    read_results,
    results_path,
)
from suite.storage.table import NO_SPACE, SIGNIFICANT_DIGITS, Table, repair_tail, significant

__all__ = [
    "BUDGETS_FILE",
    "parse_budgets",
    "read_budgets",
    "write_budgets",
    "FAILED_SOURCE",
    "FOLDERS",
    "LOCK_FILE",
    "TABLES",
    "case_file",
    "failed_source",
    "forget_failed_sources",
    "locked",
    "prepare",
    "record_failed_source",
    "unwritable",
    "FORMAT_COLUMNS",
    "FORMAT_IDENTITY",
    "FORMATS",
    "FORMATS_FILE",
    "append_format_row",
    "current_model_rows",
    "formats_path",
    "model_sha256",
    "prepare_formats",
    "read_formats",
    "OUTCOME",
    "PREDICTIONS",
    "with_outcomes",
    "by_seed",
    "predictions_path",
    "read_correct",
    "write_predictions",
    "COLUMNS",
    "RESULTS",
    "RESULTS_FILE",
    "TEXT_COLUMNS",
    "append_row",
    "read_results",
    "results_path",
    "NO_SPACE",
    "SIGNIFICANT_DIGITS",
    "Table",
    "repair_tail",
    "significant",
]
