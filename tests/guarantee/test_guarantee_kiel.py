"""The Kiel Ukraine Support Tracker importer on the real Release 7 workbook."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import shared_file

from ceasewatch.guarantee import armaments
from ceasewatch.guarantee.importers import (
    KielFrames,
    aid_category,
    kiel_from_workbook,
    parse_kiel_date,
)
from ceasewatch.guarantee.ingest import ingest_kiel
from ceasewatch.store import guarantee as sg
from ceasewatch.store.duckdb import DuckDBStore

KIEL = ("military_aid_kiel", "Ukraine_Support_Tracker.xlsx")


@pytest.fixture(scope="module")
def kiel() -> KielFrames:
    return kiel_from_workbook(shared_file(*KIEL))


def _reasons(k: KielFrames) -> dict[int, str]:
    return dict(zip(k.quarantine["line_no"], k.quarantine["reason"], strict=True))


def test_row_counts(kiel: KielFrames) -> None:
    # 1,032 records in the main sheet; 14 cannot be read (below), 1,018 load
    assert kiel.rows_read == 1032
    assert len(kiel.aid) == 1018
    main_q = kiel.quarantine[~kiel.quarantine["reason"].str.contains("weapons:")]
    assert len(main_q) == 14
    assert len(kiel.aid) + len(main_q) == kiel.rows_read
    assert kiel.coverage_end == dt.date(2022, 10, 3)  # read from the ReadMe sheet
    # the sheet has 701 military, 273 humanitarian, 58 financial records; 13 military
    # and one humanitarian record (EUH1, undated) are quarantined
    assert kiel.aid["aid_type"].value_counts().to_dict() == {
        "Military": 688,
        "Humanitarian": 272,
        "Financial": 58,
    }


def test_undated_rows_quarantined(kiel: KielFrames) -> None:
    r = _reasons(kiel)
    # two rows give no date at all
    assert "Announcement Date 'unspecified' is not a date" in r[149]
    assert "Announcement Date 'Undisclosed' is not a date" in r[1019]
    # the 180 other non-dates are intervals the tracker writes in words: kept, with precision
    prec = kiel.aid["date_precision"].value_counts().to_dict()
    assert prec == {"day": 844, "until": 163, "month": 8, "between": 2, "since": 1}
    assert parse_kiel_date("until 7/27/2022").on == dt.date(2022, 7, 27)  # type: ignore[union-attr]
    b = parse_kiel_date("between 3/4/22 & 3/11/22")
    assert b is not None and (b.start, b.on) == (dt.date(2022, 3, 4), dt.date(2022, 3, 11))
    assert parse_kiel_date("not specified, 03/22") == parse_kiel_date("unclear, 03/2022")


def test_year_typos_quarantined(kiel: KielFrames) -> None:
    r = _reasons(kiel)
    assert "'2922-02-09' is after the release's coverage end 2022-10-03" in r[214]
    # Latvia's package LVM1: a spreadsheet fill series turned 2022 into 2023 … 2027
    for line, year in zip(range(476, 481), range(2023, 2028), strict=True):
        assert f"'until 4/6/{year}' is after the release's coverage end" in r[line]
    assert "'until 6/7/2023'" in r[580]
    assert all("a year typo?" in r[n] for n in (214, 476, 480, 580))


def test_unreadable_numbers_quarantined_dots_are_missing(kiel: KielFrames) -> None:
    r = _reasons(kiel)
    assert "No. of Units delivered (in-kind military aid) 'dozens' is not a number" in r[768]
    assert "'partially' is not a number" in r[840]
    for line, text in ((856, "1.000.00"), (858, "6.000.00"), (859, "15.000.00")):
        assert f"No. of Units '{text}' is not a number" in r[line]
    # '.' is the tracker's missing value: read as missing, never a reason to quarantine
    assert not kiel.quarantine["reason"].str.contains(r" '\.' is not").any()
    wb = openpyxl.load_workbook(shared_file(*KIEL), read_only=True, data_only=True)
    rows = list(wb["Bilateral assistance, MAIN DATA"].iter_rows(values_only=True))
    wb.close()
    dots = {i for i, row in enumerate(rows[1:], start=2) if row[12] == "."}
    loaded = kiel.aid.set_index("line_no")
    kept = dots & set(loaded.index)
    # every '.' row loads except two quarantined for their date (CZM8, EUH1)
    assert len(dots) == 284 and len(kept) == 282 and dots - kept == {149, 1019}
    assert loaded.loc[sorted(kept), "units_committed"].isna().all()
    # 'undisclosed' (241 in the sheet, 6 of them in quarantined rows) is missing too, flagged
    assert (~loaded["units_disclosed"]).sum() == 235


def test_heavy_weapons_against_the_sheets(kiel: KielFrames) -> None:
    wb = openpyxl.load_workbook(shared_file(*KIEL), read_only=True, data_only=True)
    totals = {}
    for sheet in ("Committed weapons", "Delivered weapons"):
        rows = list(wb[sheet].iter_rows(values_only=True))[1:]
        by_type: dict[str, float] = {}
        for row in rows:
            if row[0] is None:
                continue
            by_type[row[2]] = by_type.get(row[2], 0) + float(row[1])
        totals[sheet] = by_type
    wb.close()
    gap = armaments.heavy_weapons_gap(kiel.heavy_weapons).set_index("category")
    assert gap.loc["artillery", "committed"] == totals["Committed weapons"]["Howitzer"] == 247
    assert gap.loc["artillery", "delivered"] == totals["Delivered weapons"]["Howitzer"] == 197
    assert gap.loc["mlrs", "committed"] == totals["Committed weapons"]["MLRS"] == 64
    # Norway's M270 is in the committed sheet only: not reported, not "zero delivered"
    assert gap.loc["mlrs", "n_unreported"] == 1
    assert gap.loc["mlrs", "delivered"] == totals["Delivered weapons"]["MLRS"] == 38
    armour = (
        totals["Committed weapons"]["Tank"]
        + totals["Committed weapons"]["AFV (Armoured fighting vehicle)"]
    )
    assert gap.loc["armour", "committed"] == armour == 1458


def test_value_by_donor_independent(kiel: KielFrames) -> None:
    # Poland: Kiel's own item estimates (USD) of military items, summed by hand
    wb = openpyxl.load_workbook(shared_file(*KIEL), read_only=True, data_only=True)
    rows = list(wb["Bilateral assistance, MAIN DATA"].iter_rows(values_only=True))
    wb.close()
    quarantined = set(kiel.quarantine["line_no"])
    committed = delivered = 0.0
    for i, row in enumerate(rows[1:], start=2):
        if row[1] != "Poland" or row[3] != "Military" or i in quarantined:
            continue
        if isinstance(row[15], int | float):
            committed += row[15]
            if isinstance(row[16], int | float):
                delivered += row[16]
    donors = armaments.aid_by_donor(kiel.aid).set_index("donor")
    assert donors.loc["Poland", "committed_usd"] == pytest.approx(committed)
    assert donors.loc["Poland", "delivered_usd"] == pytest.approx(delivered)
    assert committed > 5e8


def test_categories() -> None:
    assert aid_category("Portable defence system", "MANPADS") == ("air_defense", False)
    assert aid_category("Ammunition for heavy weapon", "155mm howitzer ammunition") == (
        "artillery",
        True,
    )
    assert aid_category("Heavy weapon", "Main Battle Tank (MBT)")[0] == "armour"
    assert aid_category("Heavy weapon", "227mm MLRS")[0] == "mlrs"
    assert aid_category(".", ".") == ("unspecified", False)


def test_ingest_into_store(store: DuckDBStore, tmp_path: Path) -> None:
    path = shared_file(*KIEL)
    r = ingest_kiel(store, path)
    assert (r.rows_read, r.loaded, r.quarantined) == (1032, 1018, 14)
    assert r.reasons == {
        "Announcement Date": 9,
        "No. of Units delivered (in-kind military aid)": 2,
        "No. of Units": 3,
    }
    q = store.quarantine()
    assert len(q) == 14 and set(q["source"]) == {"kiel"}
    assert set(q["line_no"]) >= {149, 214, 1019}
    assert len(sg.dataset(store, "aid_kiel")) == 1018
    assert len(sg.dataset(store, "heavy_weapons_kiel")) == 36
    again = ingest_kiel(store, path)
    assert again.skipped_file and len(sg.dataset(store, "aid_kiel")) == 1018
    log = sg.ledger_log(store)
    assert list(log["action"]) == ["ingest"] and log["batch_id"].iloc[0] == r.batch_id
    assert isinstance(sg.dataset(store, "aid_kiel")["announced_on"].iloc[0], dt.date | pd.Timestamp)
