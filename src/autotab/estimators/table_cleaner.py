"""`TableCleaner`: the column-level cleaning, learned on training rows and replayed on any rows.

It is the first step of the Pipeline that is cross-validated, evaluated and served, so the service
takes records exactly as they appear in the user's raw file and cleans them as training did.
Learned in `fit`: safe column names, what each column is (numeric, boolean, datetime or
categorical), which columns to drop and why, and, if configured, the quantiles to clip numbers to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from autotab.estimators.frames import column_values, frame_of_columns

TRUE_WORDS = frozenset({"true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "f"})
DEFAULT_MARKERS = ("", "?", "NA", "N/A", "n/a", "null", "None", "-")
DATE_ATTRIBUTES = {"dayofweek": "day_of_week"}  # config names -> pandas accessors
EPOCH = pd.Timestamp(0, tz="UTC")
# Plain strings with explicit classes (not compiled, no \d or \s): pyarrow runs them vectorised.
# Day, month and year as numbers (04/03/2021, 4.3.2021, 04-03-2021; 3/4/21 as spreadsheets write
# it, 00-68 being 2000-2068), a time optional; and a year first with slashes (2021/03/04), read as ISO.
NUMERIC_DATE = r"^[0-9]{1,2}[/.-][0-9]{1,2}[/.-]([0-9]{2}|[0-9]{4})([ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?$"
YMD_SLASHED = r"^[0-9]{4}/[0-9]{2}/[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?$"
ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
THOUSANDS = r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$"
# A clock: hours (any number of them, after whole days) and minutes, seconds optional. 10:30, 36:15:20
CLOCK = r"^(?:([0-9]+)days?)?([0-9]{1,3}):([0-5][0-9])(?::([0-5][0-9](?:\.[0-9]+)?))?$"
SPACES = "[ \t\r\n\u00a0\u2009\u202f]+"  # no-break, thin and narrow no-break spaces too (a French export's 1 234)
# What a number's text loses before it is read, in one pass: stray spaces, a currency sign anywhere
# and a trailing percent sign (`$1,234.50`, `-€3.5`, `12.5 %` are numbers: a price, a rate as the file
# writes them). A column of signs alone (`$`, `$$`) still reads as none.
NOT_OF_A_NUMBER = SPACES + "|[$€£¥]|%" + SPACES.replace("+", "*") + "$"
ID_NAME = re.compile(r"(^|[^a-z])(id|uuid|guid)$", re.IGNORECASE)
# How pandas names a file's column without a name: the index `to_csv` writes by default, most often.
UNNAMED = re.compile(r"^Unnamed: [0-9]+$")
# Arrow-backed strings: vectorised trimming, regex and case-folding, unlike Python-object strings.
TEXT = pd.StringDtype("pyarrow")
# Below this many rows, a column that is unique per row is no evidence of an id.
MIN_ROWS_FOR_ID = 20
# Up to this many rows (a prediction request), text is cleaned through a memo of distinct values;
# the memo keeps at most MEMO_MAX_VALUES values per column.
MEMO_MAX_ROWS = 256
MEMO_MAX_VALUES = 10_000
# The numeric columns' facts are computed by NumPy on blocks of columns of at most this many cells.
FACTS_BLOCK_CELLS = 4_000_000


def safe_name(name: object) -> str:
    """A lower-case identifier: `Body Mass (g)` -> `body_mass_g`."""
    text = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    if not text or text[0].isdigit():
        text = f"c_{text}"
    return text


def safe_names(names: list[str]) -> dict[str, str]:
    """Original -> safe name, made unique with a numeric suffix where two names collide."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        candidate, n = safe_name(name), 2
        base = candidate
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        mapping[name] = candidate
        taken.add(candidate)
    return mapping


def lower_markers(markers: tuple[str, ...] | list[str]) -> frozenset[str]:
    return frozenset(m.strip().lower() for m in markers)


def is_text(values: pd.Series | np.ndarray | ExtensionArray) -> bool:
    return not (pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype))


def normalise_missing(series: pd.Series, markers: frozenset[str]) -> pd.Series:
    """Text stripped of stray spaces, and missing-value markers (any case) as NaN."""
    if not is_text(series):
        return series
    text = series.astype(TEXT).str.strip()
    text = text.mask(text.str.lower().isin(markers))
    return text.astype(object).where(text.notna(), np.nan)


def shared_labels(text: pd.Series) -> np.ndarray:
    """Text as an object array (what scikit-learn's encoders take) whose equal values are one Python
    string: `astype(object)` makes a string per cell, about 60 bytes each, so a million rows of a
    dozen categorical columns held 570 MB where the shared labels take 100 MB. Missing is NaN."""
    codes, uniques = pd.factorize(text)
    labels = np.append(np.asarray(uniques, dtype=object), np.nan)  # code -1 (missing) picks the NaN
    return labels[codes]


def parse_numbers(values: pd.Series) -> pd.Series:
    """Numbers from text: stray spaces, `1,234.5` thousands separators, currency signs and a
    trailing `%` allowed, and a clock's `hh:mm[:ss]` (a time of day, a duration; pandas writes one
    as `0 days 01:30:00`) in hours; else NaN. `inf` is a number here: cleaning makes it missing
    (`finite`)."""
    if not is_text(values):
        return values.astype(np.float64)
    text = values.astype(TEXT).str.replace(NOT_OF_A_NUMBER, "", regex=True)
    grouped = text.str.match(THOUSANDS).fillna(False).astype(bool)
    text = text.where(~grouped, text.str.replace(",", "", regex=False))
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    # Clocks among what did not read as a number (a column of numbers pays nothing), found by a match
    # first: an extract costs ten times as much, 0.8 s on 500,000 values of text.
    clock = (numbers.isna() & text.notna()).to_numpy(copy=True)
    if clock.any():
        clock[clock] = text[clock].str.match(CLOCK).to_numpy(dtype=bool)
    if clock.any():
        parts = text[clock].str.extract(CLOCK).astype("float64")
        hours = parts[0].fillna(0) * 24 + parts[1] + parts[2] / 60 + parts[3].fillna(0) / 3600
        numbers = numbers.copy()
        numbers[clock] = hours.to_numpy()
    return numbers


def finite_numbers(values: pd.Series) -> pd.Series:
    """`parse_numbers`, an infinity missing (`finite`)."""
    numbers = parse_numbers(values)
    return numbers.mask(np.isinf(numbers))


def memo_key(value: Any) -> Any:
    """A dictionary key for a raw value. The type is part of it (True == 1 == 1.0 in Python, but the
    cleaner reads "True" and 1 differently), and a NaN is keyed by its type alone (NaN != NaN)."""
    if isinstance(value, float) and value != value:
        return type(value), None
    return type(value), value


def as_float_array(numbers: np.ndarray | ExtensionArray) -> np.ndarray:
    """A numeric (or boolean) column's values as float64, missing values as NaN."""
    if isinstance(numbers, np.ndarray):  # NumPy arrays hold no pd.NA, so no NA scan is needed
        return numbers.astype(np.float64)
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def finite(numbers: np.ndarray) -> np.ndarray:
    """Numbers with an infinity as missing, as AutoGluon reads them: no imputer fills an infinity, and
    every model refuses it (a division by zero in a spreadsheet, an overflow in an export). A copy
    only when there is one."""
    infinite = np.isinf(numbers)
    return np.where(infinite, np.nan, numbers) if infinite.any() else numbers


def parse_booleans(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    words = values.astype(TEXT).str.lower()
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    out[words.isin(TRUE_WORDS).fillna(False).astype(bool)] = 1.0
    out[words.isin(FALSE_WORDS).fillna(False).astype(bool)] = 0.0
    return out


def date_layout(present: pd.Series) -> str | None:
    """How a column of non-missing values writes its dates, if every value is one: "iso"
    (2021-03-04, 2021/03/04, a time and zone optional), or day, month and year as numbers with / . or
    - between them (04/03/2021), "dayfirst" or "monthfirst". A first number above 12 says day first,
    a second one month first; when neither does, dots mean day first (as Europe writes them) and
    slashes or dashes month first (pandas' default). None: not a column of dates."""
    text = present.astype(TEXT)
    if text.str.match(ISO_DATE).all() or text.str.match(YMD_SLASHED).all():
        return "iso"
    if not text.str.match(NUMERIC_DATE).all():
        return None
    numbers = text.str.extract(r"^([0-9]+)[/.-]([0-9]+)")
    first, second = numbers[0].astype(int), numbers[1].astype(int)
    if (first > 12).any():
        return "dayfirst" if (second <= 12).all() else None
    if (second > 12).any():
        return "monthfirst"
    return "dayfirst" if text.str.contains(".", regex=False).all() else "monthfirst"


def parse_dates(values: pd.Series, layout: str | None = None) -> pd.Series:
    """Dates as UTC timestamps, NaT where a value is not a date in `layout` (`date_layout`; by
    default the values' own, as a time split or a leakage check reads a column once)."""
    text = values.astype(TEXT)
    if layout is None:
        layout = date_layout(text.dropna()) or "iso"
    if layout == "iso":
        text = text.where(~text.str.match(YMD_SLASHED).fillna(False).astype(bool), text.str.replace("/", "-"))
        iso = text.str.match(ISO_DATE).fillna(False).astype(bool)
        return pd.to_datetime(text.where(iso), errors="coerce", format="ISO8601", utc=True)
    # Rewritten as ISO text and parsed as such, vectorised: pandas' per-value "mixed" parsing took
    # 2.4 s for 50,000 dates, against 0.04 s for the same dates in ISO.
    parts = text.where(text.str.match(NUMERIC_DATE).fillna(False).astype(bool)).str.extract(
        r"^([0-9]+)[/.-]([0-9]+)[/.-]([0-9]+)(?:[ T]([0-9]+):([0-9]+)(?::([0-9]+))?)?$"
    )
    day, month = (parts[0], parts[1]) if layout == "dayfirst" else (parts[1], parts[0])
    year = pd.to_numeric(parts[2]).astype("float64")
    year = year.where(parts[2].str.len() == 4, year + np.where(year < 69, 2000, 1900))  # as strptime's %y
    iso = year.astype("Int64").astype("string") + "-" + month.str.zfill(2) + "-" + day.str.zfill(2)
    clock = parts[3].str.zfill(2) + ":" + parts[4] + ":" + parts[5].fillna("00")
    return pd.to_datetime(iso + (" " + clock).fillna(""), errors="coerce", format="ISO8601", utc=True)


def date_part(dates: pd.Series, part: str) -> pd.Series:
    """One numeric part of parsed dates. `epoch_days` is the instant itself (days since 1970-01-01,
    fractional for the time of day), as AutoGluon's datetime features keep the date as a number
    beside its calendar parts: the parts alone lose the order of the rows in time (a trend, an age)."""
    if part == "epoch_days":
        return (dates - EPOCH) / pd.Timedelta(days=1)
    return getattr(dates.dt, DATE_ATTRIBUTES.get(part, part)).astype("float64")


def infer_kind(values: pd.Series, numeric_min_share: float) -> str:
    """numeric, boolean, datetime or categorical, judged on the non-missing values."""
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    present = values.dropna()
    if present.empty:
        return "categorical"
    weights = None
    # Strings only (1, 1.0 and True would be one key): judged once per distinct value, by its count.
    if pd.api.types.infer_dtype(present, skipna=False) == "string":
        counts = present.value_counts(sort=False)
        present, weights = pd.Series(counts.index, dtype=present.dtype), counts.to_numpy()
    if np.average(parse_numbers(present).notna(), weights=weights) >= numeric_min_share:
        return "numeric"
    lowered = set(present.astype(str).str.lower().unique())
    if lowered <= TRUE_WORDS | FALSE_WORDS:
        return "boolean"
    if (layout := date_layout(present)) is not None and parse_dates(present, layout).notna().all():
        return "datetime"
    return "categorical"


def raw_json_types(raw: np.dtype | pd.api.extensions.ExtensionDtype, kind: str) -> list[str]:
    """The JSON types a request may use for a column: those of the raw file's values (`raw`: their dtype)."""
    if pd.api.types.is_bool_dtype(raw):
        return ["boolean"]
    if pd.api.types.is_integer_dtype(raw):
        return ["integer"]
    if pd.api.types.is_numeric_dtype(raw):
        return ["number"]
    if kind == "numeric":
        return ["number", "string"]
    if kind == "boolean":
        return ["boolean", "string"]
    return ["string"]


@dataclass(frozen=True)
class ColumnFacts:
    """What the cleaner decides a column's fate from (its missing-value markers already NaN)."""

    n_rows: int
    n_present: int
    n_unique: int  # distinct present values
    is_integer: bool = False  # numeric, and every present value a whole number
    # whole numbers: the largest present value minus the smallest. `+ 0.0` where it is computed: a
    # column of 0.0 and -0.0 would otherwise give -0.0 or 0.0 by the order of the reduction.
    span: float | None = None
    finite_range: tuple[float, float] | None = None  # numeric: the smallest and largest finite values


def facts_of(values: pd.Series, kind: str) -> ColumnFacts:
    """One column's facts, by pandas: text is parsed as the cleaner would read it."""
    present = values.dropna()
    facts = ColumnFacts(len(values), len(present), int(present.nunique()))
    if kind != "numeric" or present.empty:
        return facts
    numbers = parse_numbers(present)
    finite = numbers[np.isfinite(numbers)]
    is_integer = bool(np.all(np.mod(numbers, 1) == 0))
    return replace(
        facts,
        is_integer=is_integer,
        span=float(numbers.max() - numbers.min()) + 0.0 if is_integer else None,
        finite_range=(float(finite.min()), float(finite.max())) if not finite.empty else None,
    )


def numeric_facts(X: pd.DataFrame) -> dict[Any, ColumnFacts]:
    """`facts_of` every column of NumPy floats or integers (the same facts), computed by NumPy on
    blocks of columns of at most `FACTS_BLOCK_CELLS` cells; integers only while float64 holds them
    exactly."""
    if X.columns.has_duplicates:
        return {}
    positions = [i for i, dtype in enumerate(X.dtypes) if isinstance(dtype, np.dtype) and dtype.kind in "fiu"]
    width = max(1, FACTS_BLOCK_CELLS // max(len(X), 1))
    facts: dict[Any, ColumnFacts] = {}
    for start in range(0, len(positions), width):
        block = positions[start : start + width]  # by position: a label may be anything, True included
        facts.update(zip(X.columns[block], block_facts(X.iloc[:, block].to_numpy(dtype=np.float64)), strict=True))
    exact = {}
    for column, column_facts in facts.items():
        values = X[column]
        if values.dtype.kind != "f" and not (values.empty or held_exactly(values)):
            continue
        if column_facts.finite_range is not None and 0.0 in column_facts.finite_range:
            # 0.0 == -0.0: which zero a minimum returns depends on the order of the reduction, and
            # the contract records its sign. Taken the way pandas takes it, a column at a time.
            column_facts = replace(column_facts, finite_range=facts_of(values, "numeric").finite_range)
        exact[column] = column_facts
    return exact


def held_exactly(integers: pd.Series) -> bool:
    return bool(integers.min() >= -(2**53) and integers.max() <= 2**53)


def block_facts(block: np.ndarray) -> list[ColumnFacts]:
    """The facts of each column of a 2-D float array (NaN: missing)."""
    if not len(block):
        return [ColumnFacts(0, 0, 0) for _ in range(block.shape[1])]
    missing = np.isnan(block)
    n_rows = block.shape[0]
    n_present = n_rows - missing.sum(axis=0)
    ordered = np.sort(block, axis=0)  # NaN last
    n_unique = ((ordered[1:] != ordered[:-1]) & ~np.isnan(ordered[1:])).sum(axis=0) + (n_present > 0)
    with np.errstate(invalid="ignore"):  # inf mod 1 is NaN: not a whole number
        is_integer = np.all((np.mod(block, 1) == 0) | missing, axis=0)
    finite = np.isfinite(block)
    low = np.where(finite, block, np.inf).min(axis=0, initial=np.inf)
    high = np.where(finite, block, -np.inf).max(axis=0, initial=-np.inf)
    largest = ordered[np.maximum(n_present - 1, 0), np.arange(block.shape[1])]
    whole = is_integer & (n_present > 0)
    return [
        ColumnFacts(
            n_rows,
            int(n_present[i]),
            int(n_unique[i]),
            is_integer=bool(whole[i]),
            span=float(largest[i] - ordered[0, i]) + 0.0 if whole[i] else None,
            finite_range=(float(low[i]), float(high[i])) if finite[:, i].any() else None,
        )
        for i in range(block.shape[1])
    ]


class TableCleaner(TransformerMixin, BaseEstimator):
    """Column-level cleaning of a raw table; see the module docstring.

    Parameters mirror `conf/clean/` (and `data.drop`): each step can be switched off or tuned.
    """

    def __init__(
        self,
        drop: tuple[str, ...] = (),
        missing_markers: tuple[str, ...] = DEFAULT_MARKERS,
        numeric_min_share: float = 1.0,
        case_fold: bool = True,
        date_parts: tuple[str, ...] = ("year", "month", "dayofweek"),
        drop_constant: bool = True,
        id_unique_ratio: float | None = 0.95,
        max_missing_ratio: float | None = 0.95,
        free_text_unique_ratio: float | None = 0.5,
        free_text_min_unique: int = 20,
        free_text_min_words: float | None = 4.0,
        clip_quantiles: tuple[float, float] | None = None,
    ) -> None:
        self.drop = drop
        self.missing_markers = missing_markers
        self.numeric_min_share = numeric_min_share
        self.case_fold = case_fold
        self.date_parts = date_parts
        self.drop_constant = drop_constant
        self.id_unique_ratio = id_unique_ratio
        self.max_missing_ratio = max_missing_ratio
        self.free_text_unique_ratio = free_text_unique_ratio
        self.free_text_min_unique = free_text_min_unique
        self.free_text_min_words = free_text_min_words
        self.clip_quantiles = clip_quantiles

    # --- fit ---------------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: Any = None) -> TableCleaner:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("TableCleaner needs a pandas DataFrame with column names")
        markers = lower_markers(self.missing_markers)
        columns = [str(c) for c in X.columns]
        self.feature_names_in_ = np.asarray(columns, dtype=object)
        self.n_features_in_ = len(columns)
        self.names_ = safe_names(columns)
        self.kinds_: dict[str, str] = {}
        self.dropped_: dict[str, str] = {}
        self.fields_: list[dict[str, Any]] = []
        self.bounds_: dict[str, tuple[float, float]] = {}
        self.date_layouts_: dict[str, str] = {}  # learned here: a single record's 04/03/2021 is ambiguous
        # Columns of numbers already (most of a wide table) are summarised by NumPy, many columns at a
        # time: pandas, a column at a time, costs about a millisecond each, seconds on 2,000 columns.
        numeric, dtypes = numeric_facts(X), X.dtypes
        for column, name in zip(X.columns, columns, strict=True):
            if column in numeric:
                values, kind, facts = X[column], "numeric", numeric[column]
            else:
                values = normalise_missing(X[column], markers)
                kind = infer_kind(values, self.numeric_min_share)
                facts = facts_of(values, kind)
            reason = self._drop_reason(name, kind, facts, values)
            if reason:
                self.dropped_[name] = reason
            else:
                self.kinds_[name] = kind
            field: dict[str, Any] = {
                "name": name,
                "types": raw_json_types(dtypes[column], kind),
                "nullable": facts.n_present < facts.n_rows,
                "used": reason is None,
                "kind": kind,
            }
            if reason is None and kind == "datetime":  # the layout is the distinct values' alone
                self.date_layouts_[name] = date_layout(pd.Series(values.dropna().unique()))
            if reason is None and kind == "categorical":
                field["categories"] = sorted(self._categories(values).dropna().unique().tolist())
            if reason is None and facts.finite_range is not None:
                # The raw values' range, before any clipping: what a served value is compared with.
                field["min"], field["max"] = facts.finite_range
            self.fields_.append(field)
            if reason is None and kind == "numeric" and self.clip_quantiles is not None:
                low, high = finite_numbers(values).quantile(list(self.clip_quantiles)).tolist()
                self.bounds_[name] = (float(low), float(high))
        return self

    def _drop_reason(self, name: str, kind: str, facts: ColumnFacts, values: pd.Series) -> str | None:
        n_rows, n_present, n_unique = facts.n_rows, facts.n_present, facts.n_unique
        if name in self.drop:
            return "listed in data.drop"
        if n_present == 0:
            return "all values missing"
        missing_share = 1 - n_present / n_rows
        if self.max_missing_ratio is not None and missing_share > self.max_missing_ratio:
            return f"{missing_share:.0%} missing (above clean.max_missing_ratio)"
        if self.drop_constant and n_unique == 1:
            return "constant"
        if kind == "datetime" and not self.date_parts:
            return "a date column, and clean.date_parts is empty"
        if self.id_unique_ratio is not None and n_rows >= MIN_ROWS_FOR_ID:
            ratio = n_unique / n_present
            if (kind == "categorical" or facts.is_integer) and ratio >= 0.5:
                if ID_NAME.search(name):
                    return f"id-like: named like an id, {n_unique} distinct values in {n_rows} rows"
                if UNNAMED.match(name):
                    return f"id-like: unnamed (a written index), {n_unique} distinct values in {n_rows} rows"
            if kind == "categorical" and n_unique / n_rows >= self.id_unique_ratio:
                return f"id-like: {n_unique} distinct values in {n_rows} rows"
            if facts.is_integer and n_unique == n_rows and facts.span + 1 == n_rows:
                return f"id-like: a running number, one per row, over {n_rows} rows"  # not a measurement
        if (
            kind == "categorical"
            and self.free_text_unique_ratio is not None
            and n_unique >= self.free_text_min_unique
            and n_unique / n_present > self.free_text_unique_ratio
        ):
            return f"free text: {n_unique} distinct values in {n_present} filled rows"
        if kind == "categorical" and self.free_text_min_words is not None:
            words = pd.Series(values.dropna().unique()).astype(str).str.split().str.len().mean()
            if words >= self.free_text_min_words:
                return f"free text: {words:.1f} words per value on average"
        return None

    def _categories(self, values: pd.Series) -> pd.Series:
        text = values.astype(TEXT)
        if self.case_fold:
            text = text.str.lower()
        return text.str.replace(SPACES, " ", regex=True)

    # --- transform ---------------------------------------------------------------------------

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "kinds_")
        present = set(X.columns)
        missing = [name for name in self.kinds_ if name not in present]
        if missing:
            raise ValueError(f"missing columns: {', '.join(missing)}")
        markers = lower_markers(self.missing_markers)
        out: dict[str, pd.Series | np.ndarray] = {}
        for name, kind in self.kinds_.items():
            values = column_values(X, name)
            if kind == "numeric" and not is_text(values):
                # Numbers already: straight to an array. Each pandas call costs tens of microseconds
                # whatever the number of rows, which is most of a single-record prediction.
                numbers = finite(as_float_array(values))
                out[self.names_[name]] = np.clip(numbers, *self.bounds_[name]) if name in self.bounds_ else numbers
                continue
            column = pd.Series(values, index=X.index, name=name, copy=False)
            if is_text(column) and len(column) <= MEMO_MAX_ROWS:
                out.update(self._clean_remembered(name, kind, column, markers))
            elif isinstance(column.dtype, pd.StringDtype):
                out.update(self._clean_distinct(name, kind, column, markers))
            else:
                out.update(self._clean_column(name, kind, column, markers))
        return frame_of_columns(out, X.index)

    def _clean_distinct(self, name: str, kind: str, column: pd.Series, markers: frozenset[str]) -> dict[str, pd.Series]:
        """`_clean_column` of a column of strings, each distinct value cleaned once: a million rows of
        a few dozen categories cost a hash per row instead of a dozen string operations. The same
        answers: every step of the cleaning maps a value alone, and equal strings are the same value
        (in a column of Python objects, 1, 1.0 and True are equal keys but not the same text)."""
        codes, distinct = pd.factorize(column)
        if 2 * len(distinct) > len(column):  # mostly distinct (an id, free text): no repeats to save
            return self._clean_column(name, kind, column, markers)
        cleaned = self._clean_column(name, kind, pd.Series(distinct, dtype=column.dtype), markers)
        # A missing value (code -1) takes the appended NaN, as `_clean_column` makes missing cells NaN.
        return {
            output: pd.Series(np.append(values.to_numpy(), np.nan)[codes], index=column.index, dtype=values.dtype)
            for output, values in cleaned.items()
        }

    def _clean_column(self, name: str, kind: str, column: pd.Series, markers: frozenset[str]) -> dict[str, pd.Series]:
        """The cleaned column (a date: one per part) of one raw column, vectorised."""
        safe = self.names_[name]
        values = normalise_missing(column, markers)
        if kind == "numeric":
            numbers = finite_numbers(values)
            return {safe: numbers.clip(*self.bounds_[name]) if name in self.bounds_ else numbers}
        if kind == "boolean":
            return {safe: parse_booleans(values)}
        if kind == "datetime":
            dates = parse_dates(values, self.date_layouts_[name])
            return {f"{safe}_{part}": date_part(dates, part) for part in self.date_parts}
        return {safe: pd.Series(shared_labels(self._categories(values)), index=column.index, dtype=object)}

    def _clean_remembered(
        self, name: str, kind: str, column: pd.Series, markers: frozenset[str]
    ) -> dict[str, pd.Series | np.ndarray]:
        """`_clean_column` for a few rows of text, value by value: each distinct value is cleaned by
        `_clean_column` itself the first time and remembered, so the answers are the same, but a
        single record costs dictionary lookups instead of a dozen pandas string operations (about
        2 ms per text column). The memo lives in this process only (see `__getstate__`)."""
        memo = self.__dict__.setdefault("_memo", {}).setdefault(name, {})
        raw = column.tolist()
        keys = [memo_key(value) for value in raw]
        try:
            unknown = {key: value for key, value in zip(keys, raw, strict=True) if key not in memo}
        except TypeError:  # an unhashable cell (a list from a Parquet file, say): no memo for these rows
            return self._clean_column(name, kind, column, markers)
        fresh: dict[Any, tuple] = {}
        if unknown:
            cleaned = self._clean_column(name, kind, pd.Series(list(unknown.values()), dtype=column.dtype), markers)
            columns = [part.tolist() for part in cleaned.values()]
            fresh = dict(zip(unknown, zip(*columns, strict=True), strict=True))
            if len(memo) + len(fresh) <= MEMO_MAX_VALUES:  # never cleared: readers in other threads stay safe
                memo.update(fresh)
        rows = [fresh[key] if key in fresh else memo[key] for key in keys]
        out: dict[str, pd.Series | np.ndarray] = {}
        for position, output in enumerate(self._output_names(name, kind)):
            values = [row[position] for row in rows]
            if kind == "categorical":  # object, as `_clean_column` gives (an object array would become str)
                out[output] = pd.Series(values, index=column.index, dtype=object)
            else:
                out[output] = np.array(values, dtype=np.float64)
        return out

    def __getstate__(self) -> dict[str, Any]:
        # The memo is a cache of this process: pickles stay byte-identical and small.
        return {key: value for key, value in super().__getstate__().items() if key != "_memo"}

    def _output_names(self, name: str, kind: str) -> list[str]:
        safe = self.names_[name]
        return [f"{safe}_{part}" for part in self.date_parts] if kind == "datetime" else [safe]

    def sources(self) -> dict[str, str]:
        """Each output column's raw column (a date's parts all come from the one date)."""
        check_is_fitted(self, "kinds_")
        return {out: name for name, kind in self.kinds_.items() for out in self._output_names(name, kind)}

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "kinds_")
        return np.asarray(
            [out for name, kind in self.kinds_.items() for out in self._output_names(name, kind)], dtype=object
        )

    def input_schema(self) -> list[dict[str, Any]]:
        """The raw columns a prediction request may carry: JSON types, nullability, use."""
        check_is_fitted(self, "kinds_")
        return [dict(field) for field in self.fields_]
