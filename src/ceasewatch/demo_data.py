"""A deterministic demo scenario: a ceasefire along the line of contact in eastern Ukraine.

:func:`generate_demo_inputs` writes everything a demonstration of ceasewatch needs, in the
real layouts that ceasewatch's importers read:

- an agreement folder (``agreement.yaml`` with the Minsk-style withdrawal zones,
  ``line.geojson``, ``control.geojson``, ``sectors.geojson``, ``boundary.geojson``);
- an ACLED export (the 33 columns of the Excel-converted export, ``dd/mm/yyyy HH:MM:SS``);
- a NASA FIRMS VIIRS S-NPP NRT file (the 14-column archive-download layout);
- monitors' field reports (a JSON list, ``docs/field-reports.md``);
- the ground truth (``truth.csv``: one row per generated incident with the ids of the
  records that report it) and ``scenario.json`` (parameters, counts, the malformed rows
  planted on purpose and why each must be quarantined).

The scenario: ``days`` days ending on ``end``; the ceasefire takes effect at 00:00 UTC on
the fourth day, so the first three days show the fighting before it. Incidents happen near
the line (mostly within 20 km, some 20-80 km, a few deep strikes 100-300 km away); the last
seven days bring an escalation in one sector. Each incident is reported by one to three
sources: an ACLED event, VIIRS fire pixels (strikes that set something alight, seen at the
next overpass) and observations by the monitoring teams at ten observer posts. Unrelated
records are mixed in: field burning and a steelworks in the FIRMS file, protests,
interceptions and a prisoner exchange in the ACLED file.

Everything is drawn from one seeded ``numpy.random.Generator``: the same seed gives
byte-identical files. The geography is real (towns at their WGS84 coordinates); the events
are invented.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import shapely
import shapely.ops
from pyproj import Geod, Transformer
from shapely.geometry import LineString, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from ceasewatch.ingest.field_report import FIELDS as FIELD_REPORT_LAYOUT

__all__ = [
    "ACLED_COLUMNS",
    "FIELD_REPORT_FIELDS",
    "FIRMS_VIIRS_COLUMNS",
    "OBSERVER_POSTS",
    "SECTOR_NAMES",
    "TRUTH_COLUMNS",
    "DemoInputs",
    "generate_demo_inputs",
]

# --- file layouts ----------------------------------------------------------------------
#: the ACLED export's columns, in order (``actor_dyad`` is added by the exporting tool)
ACLED_COLUMNS: Final = (
    "id",
    "iso",
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "source_scale",
    "notes",
    "fatalities",
    "timestamp",
    "geo_precision",
    "source",
    "civilian_targeting",
    "disorder_type",
    "tags",
    "actor_dyad",
)
#: NASA FIRMS VIIRS NRT archive download (``fire_nrt_SV-C2_*.csv``), in order
FIRMS_VIIRS_COLUMNS: Final = (
    "latitude",
    "longitude",
    "brightness",
    "scan",
    "track",
    "acq_date",
    "acq_time",
    "satellite",
    "instrument",
    "confidence",
    "version",
    "bright_t31",
    "frp",
    "daynight",
)
#: a field-report observation (docs/field-reports.md), in the documented order
FIELD_REPORT_FIELDS: Final = FIELD_REPORT_LAYOUT
#: the ground truth, one row per incident; ``day`` is the local (Europe/Kyiv) date,
#: ``source_ids`` the ';'-joined ids of every record that reports the incident: ACLED
#: ``event_id_cnty``, FIRMS ``latitude,longitude,acq_date,acq_time`` exactly as written,
#: field reports ``report_id/observation_id``
TRUTH_COLUMNS: Final = (
    "incident_id",
    "day",
    "lon",
    "lat",
    "category",
    "weapon_class",
    "distance_km",
    "sector",
    "source_ids",
    "occurred_at",
    "side",
    "location",
    "fatalities",
    "escalation",
    "acled_ids",
    "firms_keys",
    "field_ids",
)

TIMEZONE: Final = "Europe/Kyiv"
_KYIV: Final = ZoneInfo(TIMEZONE)
_GEOD: Final = Geod(ellps="WGS84")
#: a transverse Mercator centred on the front (35.5°E): scale error under 0.1 % over the
#: area the scenario uses, so distances in it are within 0.1 % of geodesic ones
_METRIC_PROJ: Final = (
    "+proj=tmerc +lat_0=0 +lon_0=35.5 +k=1 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m +no_defs"
)

# --- the agreement ---------------------------------------------------------------------
#: the four Minsk-style bands: (id, width_km, prohibits)
_ZONES: Final = (
    ("disengagement", 15, ("any_military_activity",)),
    ("artillery", 50, ("artillery_100mm_plus",)),
    ("mlrs", 70, ("mlrs",)),
    ("heavy_mlrs", 140, ("heavy_mlrs", "tactical_missiles")),
)
_PROHIBITED_EVERYWHERE: Final = (
    "shelling",
    "air_strike",
    "missile_strike",
    "drone_strike",
    "armed_clash",
    "small_arms_fire",
    "explosion_observed",
)
#: days before the ceasefire takes effect (at 00:00 UTC of the next day)
PRE_CEASEFIRE_DAYS: Final = 3
#: the escalation: the last days of the scenario, in one sector
ESCALATION_DAYS: Final = 7
SECTOR_HALF_WIDTH_KM: Final = 150.0

# --- geography (WGS84 lon/lat) ---------------------------------------------------------
#: the line of contact, north to south: front-line towns at their coordinates and a few
#: points between them where the front bends (Kupiansk east bank, the salient north-east
#: of Pokrovsk, the middle of the drained Kakhovka reservoir and of the Dnipro). The
#: Kurakhove-Velyka Novosilka stretch follows the late-2024 front. About 920 km.
_LINE_VERTICES: Final[tuple[tuple[str, float, float], ...]] = (
    ("Vovchansk", 36.941, 50.291),
    ("border zone east of Vovchansk", 37.25, 50.27),
    ("Vilkhuvatka", 37.516, 50.184),
    ("Kolodiazne", 37.685, 50.006),
    ("Dvorichna", 37.683, 49.850),
    ("Synkivka", 37.705, 49.763),
    ("Kupiansk", 37.615, 49.711),
    ("Stepova Novoselivka", 37.862, 49.661),
    ("Novoosynove", 37.710, 49.619),
    ("Kruhliakivka", 37.721, 49.520),
    ("Pershotravneve", 37.854, 49.383),
    ("Nevske", 37.975, 49.158),
    ("Torske", 37.961, 49.017),
    ("Lyman", 37.802, 48.988),
    ("Siversk", 38.096, 48.873),
    ("Verkhnokamianske", 38.196, 48.859),
    ("Vasiukivka", 37.995, 48.740),
    ("Chasiv Yar", 37.832, 48.587),
    ("Kurdiumivka", 37.957, 48.468),
    ("Toretsk", 37.845, 48.393),
    ("Shcherbynivka", 37.790, 48.394),
    ("salient east of Dobropillia", 37.43, 48.47),
    ("salient south-east of Dobropillia", 37.41, 48.41),
    ("north-east of Pokrovsk", 37.22, 48.38),
    ("Pokrovsk", 37.176, 48.282),
    ("Selydove", 37.300, 48.147),
    ("Kurakhove", 37.282, 47.984),
    ("Katerynivka", 37.345, 47.876),
    ("Vuhledar", 37.248, 47.779),
    ("Bohoiavlenka", 37.214, 47.860),
    ("Velyka Novosilka", 36.835, 47.845),
    ("Staromaiorske", 36.796, 47.753),
    ("Levadne", 36.596, 47.746),
    ("Malynivka", 36.476, 47.672),
    ("Huliaipole", 36.256, 47.664),
    ("Charivne", 36.034, 47.580),
    ("Bilohiria", 36.000, 47.527),
    ("Robotyne", 35.837, 47.447),
    ("Nesterianka", 35.680, 47.495),
    ("Mali Shcherbaky", 35.553, 47.548),
    ("Lobkove", 35.441, 47.522),
    ("Kamianske", 35.366, 47.542),
    ("Kakhovka reservoir off Vasylivka", 35.15, 47.50),
    ("Kakhovka reservoir off Dniprorudne", 34.88, 47.52),
    ("Kakhovka reservoir off Enerhodar", 34.62, 47.56),
    ("Kakhovka reservoir off Nikopol", 34.40, 47.53),
    ("Kakhovka reservoir off Velyka Znamianka", 34.10, 47.45),
    ("Kakhovka reservoir off Mykhailivka", 33.97, 47.31),
    ("Kakhovka reservoir off Havrylivka", 33.92, 47.20),
    ("Kakhovka reservoir off Chervonyi Maiak", 33.66, 46.98),
    ("Kakhovka dam", 33.38, 46.79),
    ("Dnipro off Lvove", 33.13, 46.765),
    ("Dnipro off Sadove", 32.83, 46.68),
    ("Dnipro off Kherson", 32.62, 46.625),
    ("Dnipro off Bilozerka", 32.42, 46.57),
    ("Dnipro mouth", 32.00, 46.50),
)
#: where the line is carried on beyond its ends to cut the country in two: north into
#: Russia, south through the Dnipro-Buh estuary between Kinburn spit and Ochakiv to the sea
_NORTH_EXTENSION: Final = ((36.93, 50.70),)
_SOUTH_EXTENSION: Final = ((31.525, 46.58), (31.0, 46.5))
#: points that are certainly on one side: they name the two halves of the split
_SIDE_ANCHORS: Final = (("UA", 30.5238, 50.4547), ("RU", 37.8022, 48.0230))  # Kyiv, Donetsk

#: reporting sectors: (name, the line vertex where the sector ends), north to south
_SECTOR_ENDS: Final = (
    ("Kharkiv-Luhansk", "Lyman"),
    ("Donetsk-North", "Toretsk"),
    ("Donetsk-South", "Velyka Novosilka"),
    ("Zaporizhzhia", "Kamianske"),
    ("Kakhovka", "Kakhovka dam"),
    ("Kherson-Dnipro", "Dnipro mouth"),
)
SECTOR_NAMES: Final = tuple(name for name, _ in _SECTOR_ENDS)

#: a simplified outline of Ukraine in its internationally recognised borders (Crimea
#: included), clockwise from the Danube mouth; within about 10 % of the real area
_UKRAINE_OUTLINE: Final[tuple[tuple[float, float], ...]] = (
    (29.70, 45.22),  # Danube mouth (Chilia arm)
    (28.84, 45.32),  # Izmail
    (28.20, 45.44),  # Reni
    (28.95, 46.45),
    (29.56, 46.96),
    (29.18, 47.99),
    (27.58, 48.49),
    (24.90, 47.72),
    (22.89, 47.95),
    (22.15, 48.40),  # Chop
    (22.60, 49.08),  # Uzhok pass
    (24.07, 50.50),
    (23.61, 51.52),  # Poland-Belarus tripoint
    (25.20, 51.95),
    (27.76, 51.47),
    (30.55, 51.25),
    (30.95, 52.08),
    (33.82, 52.36),
    (35.15, 51.22),
    (35.63, 50.36),
    (36.87, 50.34),
    (37.49, 50.45),
    (38.03, 49.92),
    (40.17, 49.57),
    (40.08, 48.87),
    (39.74, 47.83),
    (38.84, 47.87),
    (38.23, 47.11),  # Azov coast at Novoazovsk
    (37.55, 47.05),  # Mariupol
    (36.80, 46.70),  # Berdiansk
    (34.80, 46.15),  # Henichesk
    (35.45, 45.30),  # Arabat spit
    (36.45, 45.47),
    (36.65, 45.35),  # Kerch
    (36.20, 45.02),  # Cape Opuk
    (35.38, 45.03),  # Feodosiia
    (34.97, 44.82),  # Sudak
    (34.42, 44.66),  # Alushta
    (34.17, 44.47),  # Yalta
    (33.75, 44.39),  # Cape Sarych
    (33.40, 44.60),  # Sevastopol
    (32.50, 45.38),  # Tarkhankut
    (33.65, 46.10),  # Perekop
    (32.91, 46.10),  # Skadovsk
    (31.50, 46.53),  # Kinburn spit
    (31.55, 46.63),  # Ochakiv
    (30.78, 46.48),  # Odesa
    (30.68, 46.28),  # Chornomorsk
    (30.47, 46.07),  # Dniester estuary
)

#: observer posts of the monitoring mission: (id, name, lon, lat), on the Ukrainian-held
#: side 5-10 km from the line at the hot spots
OBSERVER_POSTS: Final[tuple[tuple[str, str, float, float], ...]] = (
    ("T01", "Kupiansk west", 37.570, 49.769),
    ("T02", "Lyman south-west", 37.720, 48.930),
    ("T03", "Siversk south", 37.990, 48.820),
    ("T04", "Kostiantynivka east", 37.760, 48.500),
    ("T05", "Pokrovsk west", 37.112, 48.231),
    ("T06", "Kurakhove west", 37.180, 47.960),
    ("T07", "Huliaipole north", 36.334, 47.730),
    ("T08", "Orikhiv", 35.780, 47.544),
    ("T09", "Nikopol", 34.382, 47.582),
    ("T10", "Kherson", 32.604, 46.669),
)

#: the gazetteer the ACLED rows are coded to: (location, admin1, admin2, admin3, lon, lat),
#: ACLED's spelling of the oblasts (post-2020 raions in admin2, hromadas in admin3)
_PLACES: Final[tuple[tuple[str, str, str, str, float, float], ...]] = (
    ("Kharkiv", "Kharkiv", "Kharkivskyi", "Kharkivska", 36.2527, 49.9808),
    ("Chuhuiv", "Kharkiv", "Chuguivskyi", "Chuhuivska", 36.6880, 49.8359),
    ("Vovchansk", "Kharkiv", "Chuguivskyi", "Vovchanska", 36.9411, 50.2908),
    ("Bochkove", "Kharkiv", "Chuguivskyi", "Vovchanska", 37.1409, 50.3244),
    ("Buhaivka", "Kharkiv", "Chuguivskyi", "Vovchanska", 36.8671, 50.1465),
    ("Khotimlia", "Kharkiv", "Chuguivskyi", "Starosaltivska", 36.8756, 50.0214),
    ("Vilkhuvatka", "Kharkiv", "Kupianskyi", "Vilhuvatska", 37.5156, 50.1842),
    ("Hryhorivka", "Kharkiv", "Kupianskyi", "Velykoburlutska", 37.6174, 50.0571),
    ("Kolodiazne", "Kharkiv", "Kupianskyi", "Dvorichanska", 37.6852, 50.0061),
    ("Kamianka", "Kharkiv", "Kupianskyi", "Dvorichanska", 37.8326, 49.9785),
    ("Dvorichna", "Kharkiv", "Kupianskyi", "Dvorichanska", 37.6826, 49.8502),
    ("Masiutivka", "Kharkiv", "Kupianskyi", "Dvorichanska", 37.6855, 49.8135),
    ("Synkivka", "Kharkiv", "Kupianskyi", "Petropavlivska", 37.7053, 49.7634),
    ("Kupiansk", "Kharkiv", "Kupianskyi", "Kupianska", 37.6152, 49.7106),
    ("Kucherivka", "Kharkiv", "Kupianskyi", "Petropavlivska", 37.6713, 49.7182),
    ("Kivsharivka", "Kharkiv", "Kupianskyi", "Kivsharivska", 37.6882, 49.6310),
    ("Stepova Novoselivka", "Kharkiv", "Kupianskyi", "Petropavlivska", 37.8615, 49.6607),
    ("Novoosynove", "Kharkiv", "Kupianskyi", "Kurylivska", 37.7098, 49.6193),
    ("Hrushivka", "Kharkiv", "Kupianskyi", "Kindrashivska", 37.4958, 49.6694),
    ("Krokhmalne", "Kharkiv", "Kupianskyi", "Petropavlivska", 37.9163, 49.5741),
    ("Berestove", "Kharkiv", "Kupianskyi", "Petropavlivska", 37.8941, 49.5403),
    ("Kruhliakivka", "Kharkiv", "Kupianskyi", "Kurylivska", 37.7208, 49.5204),
    ("Pershotravneve", "Kharkiv", "Iziumskyi", "Borivska", 37.8544, 49.3829),
    ("Snizhkivka", "Kharkiv", "Iziumskyi", "Oskilska", 37.2358, 49.1587),
    ("Izium", "Kharkiv", "Iziumskyi", "Iziumska", 37.2485, 49.2088),
    ("Balakliia", "Kharkiv", "Iziumskyi", "Balakliiska", 36.8595, 49.4627),
    ("Stelmakhivka", "Luhansk", "Svativskyi", "Kolomyichyska", 37.9059, 49.4689),
    ("Svatove", "Luhansk", "Svativskyi", "Svativska", 38.1504, 49.4103),
    ("Nevske", "Luhansk", "Svativskyi", "Krasnorichenska", 37.9749, 49.1581),
    ("Zhytlivka", "Luhansk", "Sievierodonetskyi", "Kreminska", 38.1908, 49.1003),
    ("Kreminna", "Luhansk", "Sievierodonetskyi", "Kreminska", 38.2179, 49.0495),
    ("Bilohorivka", "Luhansk", "Sievierodonetskyi", "Lysychanska", 38.2467, 48.9259),
    ("Rubizhne", "Luhansk", "Sievierodonetskyi", "Rubizhanska", 38.3797, 49.0123),
    ("Sievierodonetsk", "Luhansk", "Sievierodonetskyi", "Sievierodonetska", 38.4914, 48.9467),
    ("Lysychansk", "Luhansk", "Sievierodonetskyi", "Lysychanska", 38.4421, 48.9049),
    ("Novotoshkivske", "Luhansk", "Sievierodonetskyi", "Hirska", 38.6350, 48.7234),
    ("Popasna", "Luhansk", "Sievierodonetskyi", "Popasnianska", 38.3780, 48.6333),
    ("Troitske", "Luhansk", "Sievierodonetskyi", "Popasnianska", 38.4000, 48.5337),
    ("Bryanka", "Luhansk", "Alchevskyi", "Kadiivska", 38.6715, 48.4972),
    ("Alchevsk", "Luhansk", "Alchevskyi", "Alchevska", 38.8167, 48.4689),
    ("Luhansk", "Luhansk", "Luhanskyi", "Luhanska", 39.3171, 48.5671),
    ("Starobilsk", "Luhansk", "Starobilskyi", "Starobilska", 38.9107, 49.2783),
    ("Krasnyi Luch", "Luhansk", "Rovenkivskyi", "Khrustalnenska", 38.9365, 48.1410),
    ("Ivanivka", "Donetsk", "Kramatorskyi", "Lymanska", 37.9468, 49.1092),
    ("Torske", "Donetsk", "Kramatorskyi", "Lymanska", 37.9613, 49.0173),
    ("Zarichne", "Donetsk", "Kramatorskyi", "Lymanska", 37.9208, 49.0194),
    ("Lyman", "Donetsk", "Kramatorskyi", "Lymanska", 37.8023, 48.9884),
    ("Sviatohirsk", "Donetsk", "Kramatorskyi", "Sviatohirska", 37.5666, 49.0333),
    ("Sloviansk", "Donetsk", "Kramatorskyi", "Slovianska", 37.6167, 48.8667),
    ("Pryvillia", "Donetsk", "Kramatorskyi", "Cherkaska", 37.2547, 48.8658),
    ("Kramatorsk", "Donetsk", "Kramatorskyi", "Kramatorska", 37.5816, 48.7306),
    ("Druzhkivka", "Donetsk", "Kramatorskyi", "Druzhkivska", 37.5526, 48.6301),
    ("Kostiantynivka", "Donetsk", "Kramatorskyi", "Kostiantynivska", 37.7166, 48.5333),
    ("Illinivka", "Donetsk", "Kramatorskyi", "Illinivska", 37.6677, 48.4955),
    ("Siversk", "Donetsk", "Bakhmutskyi", "Siverska", 38.0960, 48.8726),
    ("Verkhnokamianske", "Donetsk", "Bakhmutskyi", "Zvanivska", 38.1962, 48.8590),
    ("Zvanivka", "Donetsk", "Bakhmutskyi", "Zvanivska", 38.0760, 48.8141),
    ("Pereizne", "Donetsk", "Bakhmutskyi", "Zvanivska", 38.0635, 48.7717),
    ("Nykyforivka", "Donetsk", "Bakhmutskyi", "Soledarska", 37.8991, 48.7706),
    ("Vasiukivka", "Donetsk", "Bakhmutskyi", "Soledarska", 37.9954, 48.7400),
    ("Bakhmut", "Donetsk", "Bakhmutskyi", "Bakhmutska", 37.9999, 48.5956),
    ("Khromove", "Donetsk", "Bakhmutskyi", "Bakhmutska", 37.9451, 48.5973),
    ("Hryhorivka", "Donetsk", "Bakhmutskyi", "Chasovoiarska", 37.8589, 48.6419),
    ("Kalynivka", "Donetsk", "Bakhmutskyi", "Chasovoiarska", 37.8622, 48.6107),
    ("Chasiv Yar", "Donetsk", "Bakhmutskyi", "Chasovoiarska", 37.8324, 48.5869),
    ("Mykolaivka", "Donetsk", "Kramatorskyi", "Kostiantynivska", 37.7971, 48.5780),
    ("Predtechyne", "Donetsk", "Kramatorskyi", "Kostiantynivska", 37.8121, 48.5234),
    ("Ivanopillia", "Donetsk", "Kramatorskyi", "Kostiantynivska", 37.7601, 48.4795),
    ("Ozarianivka", "Donetsk", "Kramatorskyi", "Kostiantynivska", 37.9548, 48.4503),
    ("Kurdiumivka", "Donetsk", "Bakhmutskyi", "Toretska", 37.9567, 48.4684),
    ("Dyliivka", "Donetsk", "Bakhmutskyi", "Toretska", 37.8761, 48.4262),
    ("Toretsk", "Donetsk", "Bakhmutskyi", "Toretska", 37.8453, 48.3934),
    ("Pivnichne", "Donetsk", "Bakhmutskyi", "Toretska", 37.9175, 48.3982),
    ("Zalizne", "Donetsk", "Bakhmutskyi", "Toretska", 37.8884, 48.3718),
    ("Shcherbynivka", "Donetsk", "Bakhmutskyi", "Toretska", 37.7901, 48.3943),
    ("New York", "Donetsk", "Bakhmutskyi", "Toretska", 37.8358, 48.3319),
    ("Horlivka", "Donetsk", "Horlivskyi", "Horlivska", 38.0416, 48.3133),
    ("Stara Mykolaivka", "Donetsk", "Kramatorskyi", "Illinivska", 37.6786, 48.3288),
    ("Keramik", "Donetsk", "Pokrovskyi", "Ocheretynska", 37.6826, 48.2530),
    ("Ocheretyne", "Donetsk", "Pokrovskyi", "Ocheretynska", 37.6097, 48.2436),
    ("Berdychi", "Donetsk", "Pokrovskyi", "Ocheretynska", 37.6405, 48.1936),
    ("Novoselivka Persha", "Donetsk", "Pokrovskyi", "Ocheretynska", 37.5296, 48.1966),
    ("Zhelanne", "Donetsk", "Pokrovskyi", "Ocheretynska", 37.4443, 48.2084),
    ("Myrnohrad", "Donetsk", "Pokrovskyi", "Myrnohradska", 37.2609, 48.3052),
    ("Pokrovsk", "Donetsk", "Pokrovskyi", "Pokrovska", 37.1758, 48.2820),
    ("Dobropillia", "Donetsk", "Pokrovskyi", "Dobropilska", 37.0852, 48.4615),
    ("Ukrainka", "Donetsk", "Pokrovskyi", "Pokrovska", 37.0969, 48.1170),
    ("Selydove", "Donetsk", "Pokrovskyi", "Selydivska", 37.3003, 48.1471),
    ("Tsukuryne", "Donetsk", "Pokrovskyi", "Selydivska", 37.3166, 48.0842),
    ("Halytsynivka", "Donetsk", "Pokrovskyi", "Novohrodivska", 37.4470, 48.1011),
    ("Netailove", "Donetsk", "Pokrovskyi", "Ocheretynska", 37.5507, 48.1083),
    ("Avdiivka", "Donetsk", "Pokrovskyi", "Avdiivska", 37.7426, 48.1399),
    ("Hirnyk", "Donetsk", "Pokrovskyi", "Kurakhivska", 37.3718, 48.0565),
    ("Kurakhivka", "Donetsk", "Pokrovskyi", "Kurakhivska", 37.3728, 48.0307),
    ("Kurakhove", "Donetsk", "Pokrovskyi", "Kurakhivska", 37.2823, 47.9836),
    ("Hostre", "Donetsk", "Pokrovskyi", "Kurakhivska", 37.4014, 47.9935),
    ("Heorhiivka", "Donetsk", "Pokrovskyi", "Marinska", 37.4383, 47.9636),
    ("Krasnohorivka", "Donetsk", "Pokrovskyi", "Marinska", 37.5097, 48.0060),
    ("Katerynivka", "Donetsk", "Pokrovskyi", "Marinska", 37.3454, 47.8755),
    ("Paraskoviivka", "Donetsk", "Pokrovskyi", "Marinska", 37.4424, 47.8691),
    ("Novomykhailivka", "Donetsk", "Pokrovskyi", "Marinska", 37.4841, 47.8538),
    ("Bohoiavlenka", "Donetsk", "Volnovaskyi", "Vuhledarska", 37.2135, 47.8601),
    ("Vodiane", "Donetsk", "Volnovaskyi", "Vuhledarska", 37.3127, 47.8265),
    ("Vuhledar", "Donetsk", "Volnovaskyi", "Vuhledarska", 37.2481, 47.7789),
    ("Mykilske", "Donetsk", "Volnovaskyi", "Vuhledarska", 37.2993, 47.7509),
    ("Volodymyrivka", "Donetsk", "Volnovaskyi", "Olhynska", 37.4014, 47.7260),
    ("Volnovakha", "Donetsk", "Volnovaskyi", "Volnovaska", 37.4967, 47.6010),
    ("Bahatyr", "Donetsk", "Volnovaskyi", "Velykonovosilkivska", 36.9391, 47.9931),
    ("Velyka Novosilka", "Donetsk", "Volnovaskyi", "Velykonovosilkivska", 36.8353, 47.8453),
    ("Staromaiorske", "Donetsk", "Volnovaskyi", "Velykonovosilkivska", 36.7957, 47.7528),
    ("Donetsk", "Donetsk", "Donetskyi", "Donetska", 37.8022, 48.0230),
    ("Makiivka", "Donetsk", "Donetskyi", "Makiivska", 37.9693, 48.0464),
    ("Yasynuvata", "Donetsk", "Donetskyi", "Yasynuvatska", 37.8594, 48.1298),
    ("Mariupol", "Donetsk", "Mariupolskyi", "Mariupolska", 37.5413, 47.0951),
    ("Novodarivka", "Zaporizhia", "Polohivskyi", "Malynivska", 36.6353, 47.7807),
    ("Levadne", "Zaporizhia", "Polohivskyi", "Malynivska", 36.5958, 47.7457),
    ("Olhivske", "Zaporizhia", "Polohivskyi", "Malynivska", 36.5330, 47.7356),
    ("Malynivka", "Zaporizhia", "Polohivskyi", "Malynivska", 36.4758, 47.6723),
    ("Chervone", "Zaporizhia", "Polohivskyi", "Huliaipilska", 36.3908, 47.6565),
    ("Huliaipole", "Zaporizhia", "Polohivskyi", "Huliaipilska", 36.2563, 47.6639),
    ("Zaliznychne", "Zaporizhia", "Polohivskyi", "Huliaipilska", 36.1696, 47.6451),
    ("Zarichne", "Zaporizhia", "Zaporizkyi", "Ternuvatska", 36.1831, 47.8525),
    ("Huliaipilske", "Zaporizhia", "Polohivskyi", "Huliaipilska", 36.0623, 47.6109),
    ("Charivne", "Zaporizhia", "Polohivskyi", "Huliaipilska", 36.0340, 47.5800),
    ("Bilohiria", "Zaporizhia", "Polohivskyi", "Malotokmachanska", 36.0004, 47.5268),
    ("Shevchenka", "Zaporizhia", "Polohivskyi", "Fedorivska", 36.4657, 47.5732),
    ("Polohy", "Zaporizhia", "Polohivskyi", "Polohivska", 36.2536, 47.4844),
    ("Orikhiv", "Zaporizhia", "Polohivskyi", "Orikhivska", 35.7858, 47.5673),
    ("Novodanylivka", "Zaporizhia", "Polohivskyi", "Orikhivska", 35.8235, 47.5242),
    ("Robotyne", "Zaporizhia", "Polohivskyi", "Orikhivska", 35.8370, 47.4470),
    ("Novoandriivka", "Zaporizhia", "Polohivskyi", "Orikhivska", 35.6972, 47.5621),
    ("Nesterianka", "Zaporizhia", "Polohivskyi", "Orikhivska", 35.6802, 47.4951),
    ("Tokmak", "Zaporizhia", "Polohivskyi", "Tokmatska", 35.7124, 47.2552),
    ("Mali Shcherbaky", "Zaporizhia", "Vasylivskyi", "Stepnohirska", 35.5530, 47.5479),
    ("Lobkove", "Zaporizhia", "Vasylivskyi", "Stepnohirska", 35.4410, 47.5222),
    ("Novoiakovlivka", "Zaporizhia", "Zaporizkyi", "Komyshuvaska", 35.5083, 47.6238),
    ("Kamianske", "Zaporizhia", "Vasylivskyi", "Vasylivska", 35.3662, 47.5424),
    ("Plavni", "Zaporizhia", "Vasylivskyi", "Vasylivska", 35.3335, 47.5626),
    ("Vasylivka", "Zaporizhia", "Vasylivskyi", "Vasylivska", 35.2742, 47.4369),
    ("Dniprorudne", "Zaporizhia", "Vasylivskyi", "Dniprorudnenska", 34.9765, 47.3817),
    ("Enerhodar", "Zaporizhia", "Vasylivskyi", "Enerhodarska", 34.6574, 47.4986),
    ("Melitopol", "Zaporizhia", "Melitopolskyi", "Melitopolska", 35.3653, 46.8489),
    ("Berdiansk", "Zaporizhia", "Berdianskyi", "Berdianska", 36.7845, 46.7586),
    ("Zaporizhia", "Zaporizhia", "Zaporizkyi", "Zaporizka", 35.1903, 47.8229),
    ("Marhanets", "Dnipropetrovsk", "Nikopolskyi", "Marhanetska", 34.6277, 47.6354),
    ("Nikopol", "Dnipropetrovsk", "Nikopolskyi", "Nikopolska", 34.3964, 47.5712),
    ("Dnipro", "Dnipropetrovsk", "Dniprovskyi", "Dniprovska", 35.0386, 48.4593),
    ("Pavlohrad", "Dnipropetrovsk", "Pavlohradskyi", "Pavlohradska", 35.8710, 48.5343),
    ("Synelnykove", "Dnipropetrovsk", "Synelnykivskyi", "Synelnykivska", 35.5179, 48.3204),
    ("Kryvyi Rih", "Dnipropetrovsk", "Kryvorizkyi", "Kryvorizka", 33.3804, 47.9097),
    ("Novovorontsovka", "Kherson", "Beryslavskyi", "Novovorontsovska", 33.9175, 47.5004),
    ("Osokorivka", "Kherson", "Beryslavskyi", "Novovorontsovska", 33.9232, 47.4473),
    ("Zolota Balka", "Kherson", "Beryslavskyi", "Novooleksandrivska", 33.9647, 47.3784),
    ("Mykhailivka", "Kherson", "Beryslavskyi", "Novooleksandrivska", 33.9578, 47.3130),
    ("Novooleksandrivka", "Kherson", "Beryslavskyi", "Novooleksandrivska", 33.8769, 47.2655),
    ("Havrylivka", "Kherson", "Beryslavskyi", "Novooleksandrivska", 33.8802, 47.2261),
    ("Kachkarivka", "Kherson", "Beryslavskyi", "Mylivska", 33.7445, 47.0987),
    ("Krupytsia", "Kherson", "Beryslavskyi", "Novoraiska", 33.5821, 46.9930),
    ("Chervonyi Maiak", "Kherson", "Beryslavskyi", "Novoraiska", 33.5995, 46.9494),
    ("Zmiivka", "Kherson", "Beryslavskyi", "Beryslavska", 33.5835, 46.8646),
    ("Beryslav", "Kherson", "Beryslavskyi", "Beryslavska", 33.4284, 46.8415),
    ("Kakhovka", "Kherson", "Kakhovskyi", "Kakhovska", 33.4870, 46.8137),
    ("Nova Kakhovka", "Kherson", "Kakhovskyi", "Novokakhovska", 33.3486, 46.7545),
    ("Odradokamianka", "Kherson", "Beryslavskyi", "Tiahynska", 33.3023, 46.7876),
    ("Korsunka", "Kherson", "Kakhovskyi", "Novokakhovska", 33.1971, 46.7601),
    ("Lvove", "Kherson", "Beryslavskyi", "Tiahynska", 33.1492, 46.7909),
    ("Krynky", "Kherson", "Khersonskyi", "Oleshkivska", 33.1187, 46.7467),
    ("Tiahynka", "Kherson", "Beryslavskyi", "Tiahynska", 33.0559, 46.7814),
    ("Novotiahynka", "Kherson", "Khersonskyi", "Darivska", 32.9939, 46.7489),
    ("Tokarivka", "Kherson", "Khersonskyi", "Darivska", 32.9513, 46.7504),
    ("Mykilske", "Kherson", "Khersonskyi", "Darivska", 32.8131, 46.7225),
    ("Sadove", "Kherson", "Khersonskyi", "Khersonska", 32.8225, 46.7048),
    ("Oleshky", "Kherson", "Khersonskyi", "Oleshkivska", 32.7189, 46.6184),
    ("Zelenivka", "Kherson", "Khersonskyi", "Khersonska", 32.6446, 46.7151),
    ("Kherson", "Kherson", "Khersonskyi", "Khersonska", 32.6178, 46.6558),
    ("Komyshany", "Kherson", "Khersonskyi", "Khersonska", 32.5032, 46.6361),
    ("Hola Prystan", "Kherson", "Skadovskyi", "Holoprystanska", 32.5242, 46.5272),
    ("Bilozerka", "Kherson", "Khersonskyi", "Bilozerska", 32.4425, 46.6248),
    ("Kizomys", "Kherson", "Khersonskyi", "Bilozerska", 32.3478, 46.5634),
    ("Stanislav", "Kherson", "Khersonskyi", "Stanislavska", 32.1496, 46.5790),
    ("Posad-Pokrovske", "Kherson", "Khersonskyi", "Chornobaivska", 32.2680, 46.8030),
    ("Henichesk", "Kherson", "Henicheskyi", "Henicheska", 34.8034, 46.1759),
    ("Skadovsk", "Kherson", "Skadovskyi", "Skadovska", 32.9112, 46.1161),
    ("Mykolaiv", "Mykolaiv", "Mykolaivskyi", "Mykolaivska", 31.9974, 46.9659),
    ("Ochakiv", "Mykolaiv", "Mykolaivskyi", "Ochakivska", 31.5498, 46.6128),
    ("Odesa", "Odesa", "Odeskyi", "Odeska", 30.7386, 46.4639),
    ("Armiansk", "Crimea", "Perekopskyi", "Armianska", 33.6921, 46.1092),
    ("Dzhankoi", "Crimea", "Dzhankoiskyi", "Dzhankoiska", 34.3927, 45.7117),
    ("Yevpatoriia", "Crimea", "Yevpatoriiskyi", "Yevpatoriiska", 33.3665, 45.2009),
    ("Simferopol", "Crimea", "Simferopolskyi", "Simferopolska", 34.1108, 44.9572),
    ("Feodosiia", "Crimea", "Feodosiiskyi", "Feodosiiska", 35.3779, 45.0368),
    ("Kerch", "Crimea", "Kerchynskyi", "Kerchenska", 36.4743, 45.3531),
    ("Sevastopol", "Sevastopol", "Sevastopol", "", 33.5224, 44.5888),
    ("Poltava", "Poltava", "Poltavskyi", "Poltavska", 34.5407, 49.5937),
    ("Kremenchuk", "Poltava", "Kremenchutskyi", "Kremenchutska", 33.4204, 49.0680),
    ("Sumy", "Sumy", "Sumskyi", "Sumska", 34.8003, 50.9216),
    ("Kropyvnytskyi", "Kirovograd", "Kropyvnytskyi", "Kropyvnytska", 32.2597, 48.5132),
)
#: places far from the line, for unrelated ACLED events (protests, interceptions)
_REAR_PLACES: Final[tuple[tuple[str, str, str, str, float, float], ...]] = (
    ("Kyiv - Shevchenkivskyi", "Kyiv City", "Kyiv", "", 30.4655, 50.4646),
    ("Kyiv", "Kyiv City", "Kyiv", "", 30.5238, 50.4547),
    ("Lviv", "Lviv", "Lvivskyi", "Lvivska", 24.0232, 49.8383),
    ("Vinnytsia", "Vinnytsia", "Vinnytskyi", "Vinnytska", 28.4810, 49.2328),
    ("Khmelnytskyi", "Khmelnytskyi", "Khmelnytskyi", "Khmelnytska", 26.9965, 49.4216),
    ("Lutsk", "Volyn", "Lutskyi", "Lutska", 25.3424, 50.7593),
    ("Cherkasy", "Cherkasy", "Cherkaskyi", "Cherkaska", 32.0621, 49.4285),
    ("Chernihiv", "Chernihiv", "Chernihivskyi", "Chernihivska", 31.2849, 51.5055),
    ("Zhytomyr", "Zhytomyr", "Zhytomyrskyi", "Zhytomyrska", 28.6767, 50.2649),
    ("Rivne", "Rivne", "Rivnenskyi", "Rivnenska", 26.2274, 50.6231),
    ("Ternopil", "Ternopil", "Ternopilskyi", "Ternopilska", 25.5892, 49.5534),
    ("Odesa", "Odesa", "Odeskyi", "Odeska", 30.7386, 46.4639),
    ("Poltava", "Poltava", "Poltavskyi", "Poltavska", 34.5407, 49.5937),
    ("Kropyvnytskyi", "Kirovograd", "Kropyvnytskyi", "Kropyvnytska", 32.2597, 48.5132),
)
#: farmland where stubble is burnt in autumn: (lon0, lat0, lon1, lat1, weight)
_FARMLAND: Final = (
    (29.3, 46.6, 30.6, 47.6, 1.0),  # northern Odesa oblast
    (28.6, 45.5, 30.0, 46.3, 0.8),  # Budjak
    (30.8, 47.2, 32.0, 48.0, 0.9),  # northern Mykolaiv oblast
    (31.0, 47.9, 33.0, 48.9, 1.2),  # Kirovohrad oblast
    (28.5, 48.5, 31.5, 49.6, 1.2),  # Vinnytsia and Cherkasy oblasts
    (32.5, 49.2, 34.3, 50.2, 1.0),  # Poltava oblast
    (25.5, 48.9, 27.5, 49.8, 0.6),  # Khmelnytskyi and Ternopil oblasts
    (31.5, 50.6, 33.5, 51.6, 0.5),  # Chernihiv oblast
)
#: farmland fires are at least this far from the line (km)
_FARMLAND_MIN_KM: Final = 120.0
#: a persistent industrial hot spot (blast furnaces at Kryvyi Rih; approximate position)
_STEELWORKS: Final = (33.39, 47.87)

# --- the scenario's dynamics -----------------------------------------------------------
#: incident kinds; each maps to the canonical category of the truth table
_KINDS: Final = (
    "shelling",
    "drone_strike",
    "missile_strike",
    "air_strike",
    "armed_clash",
    "small_arms_fire",
    "heavy_weapon_sighting",
)
_KIND_WEIGHTS: Final[dict[str, tuple[float, ...]]] = {
    "pre": (0.40, 0.24, 0.05, 0.09, 0.15, 0.05, 0.02),
    "post": (0.44, 0.20, 0.03, 0.04, 0.08, 0.11, 0.10),
    "escalation": (0.50, 0.15, 0.03, 0.10, 0.17, 0.02, 0.03),
}
#: mean incidents per day (Poisson) before and after the ceasefire, and the extra ones of
#: the escalation in its sector
_DAILY_RATE: Final[dict[str, float]] = {"pre": 30.0, "post": 16.0, "escalation": 15.0}
#: share of the incidents per sector (in the order of SECTOR_NAMES)
_SECTOR_WEIGHTS: Final = (0.19, 0.25, 0.22, 0.16, 0.07, 0.11)
_ESCALATION_CANDIDATES: Final = (
    "Kharkiv-Luhansk",
    "Donetsk-North",
    "Donetsk-South",
    "Zaporizhzhia",
)
#: share of incidents placed near an observer post (the hot spots) rather than anywhere
_HOT_SPOT_SHARE: Final = 0.7
#: local hour of day weights per kind (0-23 h, Europe/Kyiv)
_HOUR_WEIGHTS: Final[dict[str, tuple[int, ...]]] = {
    "shelling": (3, 3, 2, 2, 3, 4, 5, 5, 4, 3, 3, 3, 3, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4),
    "drone_strike": (3, 3, 3, 3, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 4, 3, 3),
    "missile_strike": (6, 7, 8, 8, 7, 6, 4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 4, 5),
    "air_strike": (1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 7, 7, 6, 6, 6, 5, 4, 3, 2, 1, 1, 1, 1, 1),
    "armed_clash": (2, 2, 2, 2, 3, 5, 6, 6, 5, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 4, 3, 3, 2, 2),
    "small_arms_fire": (4, 4, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 4, 5, 6, 6, 6, 5, 5),
    "heavy_weapon_sighting": (0,) * 7 + (3, 5, 6, 6, 6, 5, 5, 5, 4, 3) + (0,) * 7,
}
#: probability that ACLED codes an incident of this kind
_P_ACLED: Final[dict[str, float]] = {
    "shelling": 0.88,
    "drone_strike": 0.85,
    "missile_strike": 0.97,
    "air_strike": 0.9,
    "armed_clash": 0.9,
    "small_arms_fire": 0.35,
    "heavy_weapon_sighting": 0.0,
}
#: probability that an incident of this kind sets something alight (FIRMS may see it)
_P_FIRE: Final[dict[str, float]] = {
    "shelling": 0.6,
    "drone_strike": 0.55,
    "missile_strike": 0.9,
    "air_strike": 0.8,
}
#: (probability of fatalities, most fatalities) per kind
_FATALITIES: Final[dict[str, tuple[float, int]]] = {
    "shelling": (0.12, 3),
    "drone_strike": (0.08, 2),
    "missile_strike": (0.35, 12),
    "air_strike": (0.25, 4),
    "armed_clash": (0.35, 8),
    "small_arms_fire": (0.03, 1),
    "heavy_weapon_sighting": (0.0, 0),
}
#: monitors see and hear what happens within this distance of their post (km)
_OBSERVE_RANGE_KM: Final = 15.0
#: a fire is seen at the next VIIRS overpass if it comes within this delay
_FIRMS_MAX_DELAY: Final = timedelta(hours=8)

_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_RU_FORCES: Final = "Military Forces of Russia (2000-)"
_UA_FORCES: Final = "Military Forces of Ukraine (2019-)"
_CIVILIANS: Final = "Civilians (Ukraine)"
_ACLED_SOURCES: Final = (
    ("Ministry of Defence of Ukraine", "Other", 0.30),
    ("Suspilne Media", "National", 0.20),
    ("Ministry of Defence of Russia", "National", 0.08),
    ("24 Channel", "National", 0.06),
    ("Novoye Vremya Ukraine", "National", 0.06),
    ("Telegram; Undisclosed Source", "Local partner-Other", 0.06),
    ("Institute for the Study of War", "Other", 0.05),
    ("Ministry of Defence of Ukraine; Suspilne Media", "Other-National", 0.08),
    ("Ministry of Defence of Russia; Ministry of Defence of Ukraine", "Other-National", 0.05),
    ("", "Subnational", 0.06),  # the oblast's own outlet, see _REGIONAL_SOURCES
)
_REGIONAL_SOURCES: Final[dict[str, str]] = {
    "Zaporizhia": "Inform.zp.ua",
    "Kherson": "Kherson Regional Military Administration",
    "Donetsk": "Donetsk Regional Military Administration",
    "Kharkiv": "Kharkiv Regional Military Administration",
    "Dnipropetrovsk": "Dnipropetrovsk Regional Military Administration",
}


# --- geometry --------------------------------------------------------------------------
def _reproject(geom: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    def fn(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


@dataclass(frozen=True)
class _Geo:
    """The scenario's geography, built once: WGS84 shapes plus metric helpers."""

    line: LineString
    line_m: LineString
    boundary: Polygon
    control: tuple[tuple[str, BaseGeometry], ...]
    sectors: tuple[tuple[str, BaseGeometry], ...]
    sector_arcs_m: tuple[tuple[float, float], ...]
    to_m: Transformer
    to_ll: Transformer
    towns_xy: npt.NDArray[np.float64]
    towns_km: npt.NDArray[np.float64]
    towns_side: tuple[str, ...]
    posts_xy: npt.NDArray[np.float64]
    posts_arc_m: npt.NDArray[np.float64]
    posts_sector: tuple[int, ...]

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self.to_m.transform(lon, lat)
        return float(x), float(y)

    def lonlat(self, x: float, y: float) -> tuple[float, float]:
        lon, lat = self.to_ll.transform(x, y)
        return float(lon), float(lat)

    def distance_km(self, x: float, y: float) -> float:
        return float(shapely.distance(self.line_m, Point(x, y))) / 1_000.0

    def inside(self, lon: float, lat: float) -> bool:
        return bool(shapely.contains_xy(self.boundary, lon, lat))

    def side(self, lon: float, lat: float) -> str:
        for party, poly in self.control:
            if shapely.contains_xy(poly, lon, lat):
                return party
        return "outside"

    def sector(self, lon: float, lat: float) -> str:
        for name, poly in self.sectors:
            if shapely.contains_xy(poly, lon, lat):
                return name
        return ""

    def point_at(self, arc_m: float, offset_m: float, left: bool) -> tuple[float, float]:
        """The point ``offset_m`` from the line at ``arc_m``, to its left or right.

        Walking the line north to south, its left is the east and south: Russian-held.
        """
        arc_m = min(max(arc_m, 0.0), self.line_m.length)
        p = self.line_m.interpolate(arc_m)
        a = self.line_m.interpolate(max(arc_m - 2_000.0, 0.0))
        b = self.line_m.interpolate(min(arc_m + 2_000.0, self.line_m.length))
        tx, ty = b.x - a.x, b.y - a.y
        norm = math.hypot(tx, ty) or 1.0
        nx, ny = -ty / norm, tx / norm
        sign = 1.0 if left else -1.0
        return p.x + sign * offset_m * nx, p.y + sign * offset_m * ny


def _split_control(boundary: Polygon, line: LineString) -> tuple[tuple[str, BaseGeometry], ...]:
    """Cut the country in two along the line carried on to beyond the border."""
    extended = LineString([*_NORTH_EXTENSION, *line.coords, *_SOUTH_EXTENSION])
    pieces = list(shapely.ops.split(boundary, extended).geoms)
    named: dict[str, BaseGeometry] = {}
    for party, lon, lat in _SIDE_ANCHORS:
        hits = [p for p in pieces if p.contains(Point(lon, lat))]
        if len(hits) != 1:
            msg = f"the line does not put {party}'s anchor ({lon}, {lat}) in one part"
            raise RuntimeError(msg)
        named[party] = hits[0]
    if len(pieces) != 2 or named["UA"].equals(named["RU"]):
        msg = f"splitting the boundary along the line gave {len(pieces)} parts, expected 2"
        raise RuntimeError(msg)
    if named["UA"].is_empty or named["RU"].is_empty:
        msg = "a control area is empty"
        raise RuntimeError(msg)
    return (("UA", named["UA"]), ("RU", named["RU"]))


def _sector_polygons(
    line_m: LineString, ends_m: npt.NDArray[np.float64], to_ll: Transformer
) -> tuple[tuple[str, BaseGeometry], ...]:
    """Voronoi cells of points every 2 km along the line, labelled by stretch and dissolved,
    cut to a band of SECTOR_HALF_WIDTH_KM either side; back in WGS84."""
    at = np.append(np.arange(0.0, line_m.length, 2_000.0), line_m.length)
    points = shapely.line_interpolate_point(line_m, at)
    labels = np.minimum(np.searchsorted(ends_m, at, side="left"), len(ends_m) - 1)
    band = line_m.buffer(SECTOR_HALF_WIDTH_KM * 1_000.0, quad_segs=16)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(points), extend_to=band, ordered=True)
    )
    out = []
    for k, (name, _) in enumerate(_SECTOR_ENDS):
        poly_m = shapely.union_all(cells[labels == k]).intersection(band)
        out.append((name, _reproject(shapely.segmentize(poly_m, 5_000.0), to_ll)))
    return tuple(out)


@lru_cache(maxsize=1)
def _geometry() -> _Geo:
    to_m = Transformer.from_crs("EPSG:4326", _METRIC_PROJ, always_xy=True)
    to_ll = Transformer.from_crs(_METRIC_PROJ, "EPSG:4326", always_xy=True)
    line = LineString([(lon, lat) for _, lon, lat in _LINE_VERTICES])
    line_m = _reproject(line, to_m)
    assert isinstance(line_m, LineString)
    boundary = Polygon(_UKRAINE_OUTLINE)
    control = _split_control(boundary, line)

    xy = np.asarray(line_m.coords)
    vertex_arcs = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    names = [v[0] for v in _LINE_VERTICES]
    ends = np.array([vertex_arcs[names.index(end)] for _, end in _SECTOR_ENDS])
    sector_arcs = tuple(
        (float(a), float(b)) for a, b in zip(np.r_[0.0, ends[:-1]], ends, strict=True)
    )
    sectors = _sector_polygons(line_m, ends, to_ll)

    towns = np.array([(p[4], p[5]) for p in _PLACES])
    tx, ty = to_m.transform(towns[:, 0], towns[:, 1])
    towns_xy = np.column_stack([tx, ty])
    towns_km = shapely.distance(line_m, shapely.points(towns_xy)) / 1_000.0
    posts = np.array([(p[2], p[3]) for p in OBSERVER_POSTS])
    px, py = to_m.transform(posts[:, 0], posts[:, 1])
    posts_xy = np.column_stack([px, py])
    posts_arc = shapely.line_locate_point(line_m, shapely.points(posts_xy))
    posts_sector = tuple(
        int(min(np.searchsorted(ends, a, side="left"), len(ends) - 1)) for a in posts_arc
    )
    for geom in (boundary, *(g for _, g in control), *(g for _, g in sectors)):
        shapely.prepare(geom)
    towns_side = tuple(
        next((party for party, poly in control if shapely.contains_xy(poly, lon, lat)), "outside")
        for lon, lat in towns
    )
    return _Geo(
        line=line,
        line_m=line_m,
        boundary=boundary,
        control=control,
        sectors=sectors,
        sector_arcs_m=sector_arcs,
        to_m=to_m,
        to_ll=to_ll,
        towns_xy=towns_xy,
        towns_km=np.asarray(towns_km, dtype=float),
        towns_side=towns_side,
        posts_xy=posts_xy,
        posts_arc_m=np.asarray(posts_arc, dtype=float),
        posts_sector=posts_sector,
    )


# --- incidents -------------------------------------------------------------------------
@dataclass
class _Incident:
    kind: str
    when: datetime  # UTC
    x: float
    y: float
    lon: float
    lat: float
    distance_km: float
    side: str  # who holds the ground it happened on
    sector: str
    town: int  # index into _PLACES: where ACLED codes it
    geo_precision: int  # ACLED's 1 (the town) or 2 (near it)
    weapon_class: str
    fatalities: int
    attacker: str  # whose fire, as the sources tell it
    escalation: bool
    anchor_post: int  # the post that watches it (sightings, small arms), else -1
    deep: bool
    incident_id: str = ""
    acled_ids: list[str] = field(default_factory=list)
    firms_keys: list[str] = field(default_factory=list)
    field_ids: list[str] = field(default_factory=list)

    @property
    def local_day(self) -> date:
        return self.when.astimezone(_KYIV).date()


def _pick(rng: np.random.Generator, weights: tuple[float, ...]) -> int:
    w = np.asarray(weights, dtype=float)
    return int(rng.choice(len(w), p=w / w.sum()))


def _nearest_town(geo: _Geo, x: float, y: float) -> tuple[int, float]:
    d = np.hypot(geo.towns_xy[:, 0] - x, geo.towns_xy[:, 1] - y)
    i = int(np.argmin(d))
    return i, float(d[i])


def _around(
    rng: np.random.Generator, geo: _Geo, x: float, y: float, r_min: float, r_max: float
) -> tuple[float, float]:
    """A point r_min-r_max metres from (x, y) in a random direction, inside the country."""
    for _ in range(40):
        r = rng.uniform(r_min, r_max)
        a = rng.uniform(0.0, 2 * math.pi)
        px, py = x + r * math.sin(a), y + r * math.cos(a)
        if geo.inside(*geo.lonlat(px, py)):
            return px, py
    return x, y


def _distance_draw_km(rng: np.random.Generator, kind: str) -> float:
    u = rng.random()
    if kind == "shelling":
        return min(0.3 + rng.exponential(5.0), 19.0) if u < 0.85 else rng.uniform(20, 60)
    if kind == "drone_strike":
        return min(0.5 + rng.exponential(6.0), 19.0) if u < 0.7 else rng.uniform(20, 80)
    if kind == "missile_strike":
        return rng.uniform(25, 90)
    if kind == "air_strike":
        return min(2.0 + rng.exponential(8.0), 19.0) if u < 0.8 else rng.uniform(20, 45)
    return min(rng.exponential(1.2), 5.0)  # armed clash


def _place(
    rng: np.random.Generator, geo: _Geo, kind: str, sector: int, target_ru: bool
) -> tuple[float, float, int, int, int, bool]:
    """Where an incident happens: (x, y, town, ACLED geo_precision, anchor post, deep)."""
    if kind in ("small_arms_fire", "heavy_weapon_sighting"):
        return _place_near_post(rng, geo, kind, sector)
    deep = (kind == "missile_strike" and rng.random() < 0.6) or (
        kind == "drone_strike" and rng.random() < 0.08
    )
    if deep:
        far = (geo.towns_km >= 100) & (geo.towns_km <= 300)
        on_side = np.array([s == ("RU" if target_ru else "UA") for s in geo.towns_side])
        pool = np.flatnonzero(far & on_side)
        if len(pool) == 0:
            pool = np.flatnonzero(far)
        town = int(rng.choice(pool))
        tx, ty = geo.towns_xy[town]
        x, y = _around(rng, geo, float(tx), float(ty), 1_000.0, 3_000.0)
        return x, y, town, 1, -1, True
    a0, a1 = geo.sector_arcs_m[sector]
    here = [i for i, s in enumerate(geo.posts_sector) if s == sector]
    if here and rng.random() < _HOT_SPOT_SHARE:
        post = here[int(rng.integers(len(here)))]
        arc = float(np.clip(geo.posts_arc_m[post] + rng.normal(0.0, 6_000.0), a0, a1))
    else:
        arc = rng.uniform(a0, a1)
    cx, cy = geo.point_at(arc, _distance_draw_km(rng, kind) * 1_000.0, left=target_ru)
    town, _ = _nearest_town(geo, cx, cy)
    precision = 1 if rng.random() < 0.85 else 2
    r_min, r_max = (1_000.0, 3_000.0) if precision == 1 else (5_000.0, 15_000.0)
    tx, ty = geo.towns_xy[town]
    x, y = _around(rng, geo, float(tx), float(ty), r_min, r_max)
    return x, y, town, precision, -1, False


def _place_near_post(
    rng: np.random.Generator, geo: _Geo, kind: str, sector: int
) -> tuple[float, float, int, int, int, bool]:
    here = [i for i, s in enumerate(geo.posts_sector) if s == sector] or list(
        range(len(OBSERVER_POSTS))
    )
    post = here[int(rng.integers(len(here)))]
    ox, oy = geo.posts_xy[post]
    x, y = ox, oy
    for _ in range(60):
        if kind == "small_arms_fire":
            arc = geo.posts_arc_m[post] + rng.normal(0.0, 4_000.0)
            px, py = geo.point_at(arc, rng.uniform(200.0, 2_000.0), left=rng.random() < 0.5)
            ok = math.hypot(px - ox, py - oy) <= 10_000.0
        else:
            r = rng.uniform(2_000.0, 12_000.0)
            a = rng.uniform(0.0, 2 * math.pi)
            px, py = ox + r * math.sin(a), oy + r * math.cos(a)
            ok = geo.distance_km(px, py) <= 45.0
        if ok and geo.inside(*geo.lonlat(px, py)):
            x, y = px, py
            break
    town, town_m = _nearest_town(geo, x, y)
    return x, y, town, 1 if town_m <= 3_000.0 else 2, post, False


def _weapon(rng: np.random.Generator, kind: str, d_km: float, escalation: bool) -> str:
    def draw(options: tuple[tuple[str, float], ...]) -> str:
        return options[_pick(rng, tuple(w for _, w in options))][0]

    if kind == "shelling":
        heavy = 2.0 if escalation else 1.0
        if d_km < 8:
            return draw(
                (
                    ("mortar", 0.35),
                    ("artillery_100mm_plus", 0.35),
                    ("tank", 0.12),
                    ("mlrs", 0.18 * heavy),
                )
            )
        if d_km < 25:
            return draw(
                (("artillery_100mm_plus", 0.6), ("mlrs", 0.3 * heavy), ("heavy_mlrs", 0.1 * heavy))
            )
        return draw((("artillery_100mm_plus", 0.35), ("mlrs", 0.15), ("heavy_mlrs", 0.5)))
    if kind == "armed_clash":
        return draw((("small_arms", 0.5), ("heavy_machine_gun", 0.3), ("grenade_launcher", 0.2)))
    if kind == "heavy_weapon_sighting":
        if d_km < 15:
            return draw((("tank", 0.5), ("artillery_100mm_plus", 0.3), ("mlrs", 0.2)))
        return draw((("artillery_100mm_plus", 0.6), ("mlrs", 0.4)))
    return {
        "drone_strike": "drone",
        "missile_strike": "tactical_missiles",
        "air_strike": "aircraft",
        "small_arms_fire": "small_arms",
    }[kind]


def _simulate(
    rng: np.random.Generator,
    geo: _Geo,
    start: date,
    end: date,
    effective: datetime,
    escalation_sector: int,
) -> list[_Incident]:
    escalation_start = end - timedelta(days=ESCALATION_DAYS - 1)
    out: list[_Incident] = []
    day = start
    while day <= end:
        regime = "pre" if day < effective.date() else "post"
        batches = [(regime, int(rng.poisson(_DAILY_RATE[regime])), -1)]
        if day >= escalation_start:
            n_extra = int(rng.poisson(_DAILY_RATE["escalation"]))
            batches.append(("escalation", n_extra, escalation_sector))
        for batch, n, forced in batches:
            for _ in range(n):
                kind = _KINDS[_pick(rng, _KIND_WEIGHTS[batch])]
                sector = forced if forced >= 0 else _pick(rng, _SECTOR_WEIGHTS)
                out.append(_incident(rng, geo, kind, sector, day, escalation=batch == "escalation"))
        day += timedelta(days=1)
    return out


def _incident(
    rng: np.random.Generator, geo: _Geo, kind: str, sector: int, day: date, *, escalation: bool
) -> _Incident:
    hour = _pick(rng, tuple(float(w) for w in _HOUR_WEIGHTS[kind]))
    local = datetime.combine(
        day, time(hour, int(rng.integers(60)), int(rng.integers(60))), tzinfo=_KYIV
    )
    target_ru = rng.random() < 0.42
    x, y, town, precision, post, deep = _place(rng, geo, kind, sector, target_ru)
    lon, lat = geo.lonlat(x, y)
    side = geo.side(lon, lat)
    d_km = geo.distance_km(x, y)
    if kind in ("armed_clash", "small_arms_fire"):
        attacker = "RU" if rng.random() < 0.65 else "UA"
    elif kind == "heavy_weapon_sighting":
        attacker = side if side in ("UA", "RU") else "RU"
    else:
        attacker = "UA" if side == "RU" else "RU"
    p_dead, most = _FATALITIES[kind]
    if escalation:
        p_dead = min(1.0, p_dead * 1.5)
    dead = int(rng.integers(1, most + 1)) if most and rng.random() < p_dead else 0
    return _Incident(
        kind=kind,
        when=local.astimezone(UTC),
        x=x,
        y=y,
        lon=lon,
        lat=lat,
        distance_km=d_km,
        side=side,
        sector=geo.sector(lon, lat),
        town=town,
        geo_precision=precision,
        weapon_class=_weapon(rng, kind, d_km, escalation),
        fatalities=dead,
        attacker=attacker,
        escalation=escalation,
        anchor_post=post,
        deep=deep,
    )


# --- ACLED -----------------------------------------------------------------------------
_WEAPON_PHRASES: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("RU", "mortar"): ("mortars", "120mm mortars", "82mm mortars"),
    ("UA", "mortar"): ("mortars", "120mm mortars"),
    ("RU", "tank"): ("tanks", "a tank"),
    ("UA", "tank"): ("tanks",),
    ("RU", "artillery_100mm_plus"): (
        "artillery",
        "152mm artillery",
        "122mm artillery",
        "howitzers",
    ),
    ("UA", "artillery_100mm_plus"): ("artillery", "155mm artillery", "howitzers"),
    ("RU", "mlrs"): ("MLRS (Grad)", "Grad MLRS"),
    ("UA", "mlrs"): ("MLRS (Grad)", "MLRS"),
    ("RU", "heavy_mlrs"): ("MLRS (Uragan)", "MLRS (Smerch)", "Tornado-S MLRS"),
    ("UA", "heavy_mlrs"): ("HIMARS", "MLRS (Uragan)"),
}
_CLASH_WEAPONS: Final[dict[str, str]] = {
    "small_arms": "small arms",
    "heavy_machine_gun": "heavy machine guns",
    "grenade_launcher": "grenade launchers",
}
_PEOPLE: Final[dict[str, str]] = {"RU": "Russian", "UA": "Ukrainian"}


def _choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _day_text(d: date) -> str:
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def _num(value: float, decimals: int) -> str:
    """A number as FIRMS and ACLED write it: fixed decimals, trailing zeros dropped."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _inter(actor: str) -> int:
    if not actor:
        return 0
    if actor.startswith(_RU_FORCES) or actor.startswith("Government of Russia"):
        return 8
    if actor == _CIVILIANS:
        return 7
    if actor.startswith("Protesters"):
        return 6
    return 1


def _acled_row(
    *,
    day: date,
    place: tuple[str, str, str, str, float, float],
    event_type: str,
    sub_event_type: str,
    actor1: str,
    actor2: str,
    notes: str,
    fatalities: int,
    geo_precision: int,
    source: tuple[str, str],
    disorder_type: str,
    rng: np.random.Generator,
    civilian_targeting: str = "",
    tags: str = "",
    time_precision: int = 1,
) -> dict[str, str]:
    i1, i2 = _inter(actor1), _inter(actor2)
    interaction = 10 * min(i1, i2) + max(i1, i2) if i1 and i2 else 10 * (i1 or i2)
    updated = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(
        days=int(rng.integers(3, 11)), seconds=int(rng.integers(86_400))
    )
    name, admin1, admin2, admin3, lon, lat = place
    return {
        "id": "",  # numbered once all rows exist
        "iso": "804",
        "event_id_cnty": "",
        "event_date": f"{day:%d/%m/%Y} 00:00:00",
        "year": str(day.year),
        "time_precision": str(time_precision),
        "event_type": event_type,
        "sub_event_type": sub_event_type,
        "actor1": actor1,
        "assoc_actor_1": "",
        "inter1": str(i1),
        "actor2": actor2,
        "assoc_actor_2": "",
        "inter2": str(i2),
        "interaction": str(interaction),
        "region": "Europe",
        "country": "Ukraine",
        "admin1": admin1,
        "admin2": admin2,
        "admin3": admin3,
        "location": name,
        "latitude": _num(lat, 4),
        "longitude": _num(lon, 4),
        "source_scale": source[1],
        "notes": notes,
        "fatalities": str(fatalities),
        "timestamp": str(int(updated.timestamp())),
        "geo_precision": str(geo_precision),
        "source": source[0],
        "civilian_targeting": civilian_targeting,
        "disorder_type": disorder_type,
        "tags": tags,
        "actor_dyad": f"{actor1} - {actor2}",
    }


def _acled_source(rng: np.random.Generator, admin1: str) -> tuple[str, str]:
    i = _pick(rng, tuple(w for _, _, w in _ACLED_SOURCES))
    name, scale, _ = _ACLED_SOURCES[i]
    if not name:
        return _REGIONAL_SOURCES.get(admin1, "Ukrainska Pravda"), scale
    return name, scale


def _acled_for_incident(
    rng: np.random.Generator, inc: _Incident, effective: datetime
) -> dict[str, str]:
    place = _PLACES[inc.town]
    name, admin1 = place[0], place[1]
    where = name if inc.geo_precision == 1 else f"near {name}"
    at = f"in {name}" if inc.geo_precision == 1 else f"near {name}"
    ru = inc.attacker == "RU"
    them = "UA" if ru else "RU"
    actor1 = _RU_FORCES if ru else _UA_FORCES
    actor2 = "" if ru else _RU_FORCES
    remote = ("Explosions/Remote violence", "Shelling/artillery/missile attack")
    air = ("Explosions/Remote violence", "Air/drone strike")
    battle = ("Battles", "Armed clash")
    kind = inc.kind
    if kind == "shelling":
        types = remote
        phrase = _choice(rng, _WEAPON_PHRASES[(inc.attacker, inc.weapon_class)])
        if ru:
            text = f"Russian forces shelled {where}, {admin1}, with {phrase}."
        else:
            text = f"Ukrainian forces shelled Russian positions {at}, {admin1}, with {phrase}."
    elif kind == "drone_strike":
        types = air
        if ru and inc.deep:
            text = f"Russian forces attacked {where}, {admin1}, with Shahed drones."
        elif ru:
            drone = _choice(rng, ("an FPV drone", "drones", "a Lancet loitering munition"))
            text = f"Russian forces hit {where}, {admin1}, with {drone}."
        else:
            drone = _choice(rng, ("drones", "an FPV drone"))
            text = f"Ukrainian forces hit Russian positions {at}, {admin1}, with {drone}."
    elif kind == "air_strike":
        types = air
        actor1 += " Air Force"
        if ru:
            text = f"Russian aircraft dropped KAB guided aerial bombs on {where}, {admin1}."
        else:
            text = (
                f"Ukrainian aircraft struck Russian positions {at}, {admin1}, "
                "with guided aerial bombs."
            )
    elif kind == "missile_strike":
        types = remote
        if ru:
            missile = _choice(
                rng,
                (
                    "an Iskander-M ballistic missile",
                    "Iskander-M ballistic missiles",
                    "S-300 missiles",
                ),
            )
            text = f"Russian forces struck {where}, {admin1}, with {missile}."
        else:
            text = f"Ukrainian forces struck {where}, {admin1}, with ATACMS ballistic missiles."
    elif kind == "armed_clash":
        types = battle
        actor2 = _UA_FORCES if ru else _RU_FORCES
        if rng.random() < 0.6:
            text = (
                f"{_PEOPLE[inc.attacker]} forces clashed with {_PEOPLE[them]} forces near "
                f"{name}, {admin1}, using {_CLASH_WEAPONS[inc.weapon_class]}."
            )
        else:
            text = (
                f"{_PEOPLE[inc.attacker]} forces engaged in an unsuccessful offensive near "
                f"{name}, {admin1}, and were repelled by {_PEOPLE[them]} forces."
            )
    else:  # small arms
        types = battle
        actor2 = _UA_FORCES if ru else _RU_FORCES
        text = (
            f"{_PEOPLE[inc.attacker]} and {_PEOPLE[them]} forces exchanged small arms fire "
            f"near {name}, {admin1}."
        )

    civilian = ""
    if inc.fatalities == 0:
        casualties = "Casualties unknown."
        if kind != "armed_clash" and inc.side == "UA" and rng.random() < 0.3:
            casualties = "There were no casualties."
    elif inc.side == "UA" and kind in ("shelling", "drone_strike", "air_strike", "missile_strike"):
        actor2 = _CIVILIANS
        civilian = "Civilian targeting"
        n = inc.fatalities
        casualties = f"{n} civilian{'s' if n > 1 else ''} {'were' if n > 1 else 'was'} killed."
    else:
        n = inc.fatalities
        victims = _PEOPLE[inc.side if inc.side in _PEOPLE else them]
        casualties = (
            f"{n} {victims} soldier{'s' if n > 1 else ''} {'were' if n > 1 else 'was'} "
            "reportedly killed."
        )
    if inc.when >= effective and rng.random() < 0.15:
        casualties += (
            f" This took place despite the ceasefire in force since {_day_text(effective.date())}."
        )
    return _acled_row(
        day=inc.local_day,
        place=place,
        event_type=types[0],
        sub_event_type=types[1],
        actor1=actor1,
        actor2=actor2,
        notes=f"On {_day_text(inc.local_day)}, {text} {casualties}",
        fatalities=inc.fatalities,
        geo_precision=inc.geo_precision,
        source=_acled_source(rng, admin1),
        disorder_type="Political violence",
        rng=rng,
        civilian_targeting=civilian,
        time_precision=1 if rng.random() < 0.96 else 2,
    )


def _acled_noise(
    rng: np.random.Generator, start: date, end: date, effective: datetime
) -> list[dict[str, str]]:
    """Unrelated ACLED events: protests, interceptions over the rear, the agreement itself."""
    rows: list[dict[str, str]] = []
    themes = (
        "demanding that prisoner exchanges be intensified",
        "in support of soldiers missing in action and their families",
        "calling on the guarantor states to enforce the ceasefire",
        "demanding more funding for the armed forces instead of road repairs",
    )
    day = start
    while day <= end:
        for _ in range(int(rng.poisson(0.45))):
            place = _REAR_PLACES[int(rng.integers(len(_REAR_PLACES)))]
            size = _choice(rng, ("20", "30", "50", "100", "200", "300", "500"))
            rows.append(
                _acled_row(
                    day=day,
                    place=place,
                    event_type="Protests",
                    sub_event_type="Peaceful protest",
                    actor1="Protesters (Ukraine)",
                    actor2="",
                    notes=(
                        f"On {_day_text(day)}, around {size} people held a peaceful protest in "
                        f"{place[0]}, {_choice(rng, themes)}."
                    ),
                    fatalities=0,
                    geo_precision=1,
                    source=(_choice(rng, ("Suspilne Media", "Ukrainska Pravda")), "National"),
                    disorder_type="Demonstrations",
                    rng=rng,
                    tags=f"crowd size=around {size}",
                )
            )
        rate = 1.5 if day < effective.date() else 0.25
        for _ in range(int(rng.poisson(rate))):
            place = _REAR_PLACES[1 + int(rng.integers(len(_REAR_PLACES) - 1))]
            n = int(rng.integers(2, 30))
            rows.append(
                _acled_row(
                    day=day,
                    place=place,
                    event_type="Strategic developments",
                    sub_event_type="Disrupted weapons use",
                    actor1="Military Forces of Ukraine (2019-) Air Force",
                    actor2="Military Forces of Russia (2000-) Air Force",
                    notes=(
                        f"Interception: On {_day_text(day)}, Ukrainian forces shot down {n} "
                        f"Russian 'Shahed' drones over {place[1]} region (coded to {place[0]})."
                    ),
                    fatalities=0,
                    geo_precision=2,
                    source=("Ministry of Defence of Ukraine", "Other"),
                    disorder_type="Strategic developments",
                    rng=rng,
                )
            )
        day += timedelta(days=1)
    kyiv = _REAR_PLACES[1]
    rows.append(
        _acled_row(
            day=effective.date(),
            place=kyiv,
            event_type="Strategic developments",
            sub_event_type="Agreement",
            actor1="Government of Ukraine (2019-)",
            actor2="Government of Russia (2000-)",
            notes=(
                f"On {_day_text(effective.date())}, a ceasefire agreed between Ukraine and "
                "Russia came into force along the line of contact at 00:00 UTC (coded to Kyiv)."
            ),
            fatalities=0,
            geo_precision=3,
            source=("Suspilne Media; Reuters", "National-International"),
            disorder_type="Strategic developments",
            rng=rng,
        )
    )
    swap = effective.date() + timedelta(days=(end - effective.date()).days // 2)
    n = int(rng.integers(80, 200))
    rows.append(
        _acled_row(
            day=swap,
            place=kyiv,
            event_type="Strategic developments",
            sub_event_type="Other",
            actor1="Government of Ukraine (2019-)",
            actor2="Government of Russia (2000-)",
            notes=(
                f"On {_day_text(swap)}, Ukraine and Russia exchanged {n} prisoners of war each "
                "under the terms of the ceasefire (coded to Kyiv)."
            ),
            fatalities=0,
            geo_precision=3,
            source=("Suspilne Media", "National"),
            disorder_type="Strategic developments",
            rng=rng,
        )
    )
    return rows


# --- FIRMS -----------------------------------------------------------------------------
def _passes(d: date) -> tuple[tuple[datetime, str], ...]:
    """S-NPP's daytime and night-time overpass over Ukraine on UTC date ``d``.

    The overpass time walks through ~09:30-11:10 UTC (day) and ~23:00-00:30 UTC (night)
    over the 16-day repeat cycle, as in the real files.
    """
    k = d.toordinal()
    base = datetime.combine(d, time(0), tzinfo=UTC)
    day = base + timedelta(minutes=9 * 60 + 32 + (-18 * k) % 100)
    night = base + timedelta(minutes=23 * 60 + 2 + (-18 * k + 37) % 90)
    return ((day, "D"), (night, "N"))


def _acq_time(pass_time: datetime, daynight: str, lat: float) -> datetime:
    # granules: the ascending (day) pass reaches the north later, the descending one earlier
    minutes = int((lat - 44.0) / 3.6) if daynight == "D" else int((52.5 - lat) / 3.6)
    return pass_time + timedelta(minutes=minutes)


def _next_pass(when: datetime) -> tuple[datetime, str] | None:
    best: tuple[datetime, str] | None = None
    for dd in (-1, 0, 1):
        for t, dn in _passes(when.date() + timedelta(days=dd)):
            if t >= when + timedelta(minutes=15) and (best is None or t < best[0]):
                best = (t, dn)
    if best is None or best[0] - when > _FIRMS_MAX_DELAY:
        return None
    return best


def _firms_values(
    rng: np.random.Generator, daynight: str, source: str
) -> tuple[float, float, float, str]:
    """(brightness K, bright_t31 K, frp MW, confidence) of one VIIRS fire pixel."""
    u = rng.random()
    p_high = 0.12 if source == "strike" else 0.05
    conf = "h" if u < p_high else ("l" if u < p_high + 0.08 else "n")
    if daynight == "D":
        if conf == "h":
            bright = 367.0 if rng.random() < 0.7 else float(np.clip(rng.normal(356, 5), 345, 366.9))
        elif conf == "n":
            bright = float(np.clip(rng.normal(338, 8), 318, 366))
        else:
            bright = float(np.clip(rng.normal(328, 6), 305, 345))
        t31 = rng.normal(298.0, 5.0)
        frp = rng.lognormal(math.log(5.5), 0.8)
    else:
        if conf == "h":
            bright = float(np.clip(rng.normal(345, 12), 320, 367))
        elif conf == "n":
            bright = float(np.clip(rng.normal(304, 6), 295, 330))
        else:
            bright = float(np.clip(rng.normal(299, 3), 295, 310))
        t31 = rng.normal(285.0, 4.0)
        frp = rng.lognormal(math.log(1.3), 0.8)
    frp *= {"strike": 1.8, "industry": 3.0}.get(source, 1.0)
    frp *= {"h": 2.5, "l": 0.6}.get(conf, 1.0)
    return bright, float(t31), max(float(frp), 0.08), conf


def _firms_pixels(
    rng: np.random.Generator,
    geo: _Geo,
    lon: float,
    lat: float,
    pass_time: datetime,
    daynight: str,
    n: int,
    source: str,
    spread_m: float,
) -> list[list[str]]:
    """``n`` VIIRS pixels of one fire; ``spread_m`` 0 means adjacent pixels within 500 m."""
    u = rng.random()  # scan angle: pixels grow from 0.32/0.36 km at nadir to 0.8/0.78 at the edge
    scan, track = 0.32 + 0.48 * u * u, 0.36 + 0.42 * u * u
    x0, y0 = geo.xy(lon, lat)
    rows = []
    px, py = x0, y0
    for i in range(n):
        if spread_m > 0:
            px, py = x0 + rng.normal(0, spread_m), y0 + rng.normal(0, spread_m)
        elif i == 0:
            px, py = _around(rng, geo, x0, y0, 0.0, 250.0)
        else:
            along_scan = rng.random() < 0.5
            step = (scan if along_scan else track) * 1_000.0 * (1 if rng.random() < 0.5 else -1)
            qx, qy = (px + step, py) if along_scan else (px, py + step)
            if math.hypot(qx - x0, qy - y0) > 480.0:
                continue
            px, py = qx, qy
        plon, plat = geo.lonlat(px, py)
        if not geo.inside(plon, plat):
            continue
        acq = _acq_time(pass_time, daynight, plat)
        bright, t31, frp, conf = _firms_values(rng, daynight, source)
        rows.append(
            [
                _num(plat, 5),
                _num(plon, 5),
                _num(bright, 2),
                _num(scan, 2),
                _num(track, 2),
                f"{acq:%Y-%m-%d}",
                f"{acq:%H%M}",
                "N",
                "VIIRS",
                conf,
                "2.0NRT",
                _num(t31, 2),
                _num(frp, 2),
                daynight,
            ]
        )
    return rows


def _firms_noise(rng: np.random.Generator, geo: _Geo, start: date, end: date) -> list[list[str]]:
    """Stubble burning on farmland far from the line (in dry spells) and a steelworks."""
    weights = tuple(f[4] for f in _FARMLAND)
    rows: list[list[str]] = []
    dry = True
    day = start
    while day <= end:
        dry = rng.random() < (0.78 if dry else 0.35)
        for _ in range(int(rng.poisson(12.0 if dry else 6.0))):
            box = _FARMLAND[_pick(rng, weights)]
            for _ in range(20):
                lon, lat = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
                if geo.inside(lon, lat) and geo.distance_km(*geo.xy(lon, lat)) >= _FARMLAND_MIN_KM:
                    break
            else:
                continue
            pass_time, dn = _passes(day)[0 if rng.random() < 0.85 else 1]
            n = 1 + int(rng.poisson(7.0))
            rows += _firms_pixels(rng, geo, lon, lat, pass_time, dn, n, "field", 2_500.0)
        for pass_time, dn in _passes(day):
            if rng.random() < (0.75 if dn == "D" else 0.5):
                n = 1 + int(rng.random() < 0.4)
                rows += _firms_pixels(rng, geo, *_STEELWORKS, pass_time, dn, n, "industry", 0.0)
        day += timedelta(days=1)
    return rows


# --- field reports ---------------------------------------------------------------------
_FIELD_NOTES: Final[dict[str, tuple[str, ...]]] = {
    "artillery_100mm_plus": (
        "assessed as 152mm artillery rounds",
        "assessed as 122mm artillery rounds",
    ),
    "mortar": ("assessed as 120mm mortar rounds", "assessed as 82mm mortar rounds"),
    "tank": ("assessed as tank rounds",),
    "mlrs": ("assessed as MLRS (BM-21 Grad) rockets",),
    "heavy_mlrs": ("assessed as MLRS (BM-27 Uragan) rockets",),
    "drone": ("assessed as drone-dropped munitions", "assessed as an FPV drone strike"),
    "tactical_missiles": ("one large explosion, assessed as a missile",),
    "aircraft": ("assessed as guided aerial bombs",),
    "small_arms": ("bursts of small-arms fire",),
    "heavy_machine_gun": ("heavy-machine-gun fire",),
    "grenade_launcher": ("automatic grenade launcher fire",),
}
_SIGHTING_NOTES: Final[dict[str, str]] = {
    "tank": "main battle tanks (T-72) near a tree line",
    "artillery_100mm_plus": "self-propelled howitzers (2S1/2S3) in a firing position",
    "mlrs": "MLRS (BM-21 Grad) on a field track",
}


def _count(rng: np.random.Generator, inc: _Incident) -> int:
    lo, hi = {
        "mortar": (2, 15),
        "artillery_100mm_plus": (1, 20),
        "tank": (1, 8),
        "mlrs": (10, 40),
        "heavy_mlrs": (4, 16),
        "drone": (1, 3),
        "tactical_missiles": (1, 2),
        "aircraft": (1, 4),
        "small_arms": (1, 12),
        "heavy_machine_gun": (3, 25),
        "grenade_launcher": (3, 15),
    }.get(inc.weapon_class, (1, 6))
    if inc.kind == "heavy_weapon_sighting":
        lo, hi = 1, 6
    elif inc.kind == "armed_clash":
        lo, hi = 5, 40
    n = int(rng.integers(lo, hi + 1))
    return int(n * 1.5) if inc.escalation else n


def _iso(t: datetime) -> str:
    return f"{t.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def _observation(
    rng: np.random.Generator, inc: _Incident, post: int, azimuth: float, dist_km: float
) -> dict[str, Any]:
    pid, _, plon, plat = OBSERVER_POSTS[post]
    start = inc.when - timedelta(seconds=float(rng.uniform(0, 360)))
    start = start.replace(second=0, microsecond=0)
    end = inc.when + timedelta(seconds=float(rng.uniform(120, 1_500)))
    end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    est = dist_km * (1.0 + rng.normal(0.0, 0.08))
    half = max(0.5, 0.2 * est)
    dmin = max(0, math.floor(est - half))
    dmax = max(math.ceil(est + half), dmin + 1)
    bearing = round(azimuth + rng.normal(0.0, 3.0)) % 360
    if inc.kind == "heavy_weapon_sighting":
        kind, assessment = "heavy_weapon_sighting", "undetermined"
        weapon: str | None = inc.weapon_class
        notes = _SIGHTING_NOTES[inc.weapon_class]
    elif inc.kind in ("small_arms_fire", "armed_clash") and inc.weapon_class != "grenade_launcher":
        kind, assessment = "burst", "undetermined"
        weapon = inc.weapon_class
        notes = _FIELD_NOTES[inc.weapon_class][0]
    else:
        kind = "explosion"
        assessment = "impact" if rng.random() < 0.6 else "undetermined"
        assessed = rng.random() < (0.75 if inc.kind == "shelling" else 0.6)
        weapon = inc.weapon_class if assessed else None
        notes = _choice(rng, _FIELD_NOTES[inc.weapon_class]) if assessed else ""
    obs: dict[str, Any] = {
        "report_id": "",
        "observation_id": "",
        "observer_id": pid,
        "observer_lon": plon,
        "observer_lat": plat,
        "window_start": _iso(start),
        "window_end": _iso(end),
        "kind": kind,
        "count": _count(rng, inc),
        "bearing_deg": bearing,
        "distance_min_km": dmin,
        "distance_max_km": dmax,
        "weapon_class": weapon,
        "assessment": assessment,
        "reliability": "A" if rng.random() < 0.8 else "B",
        "credibility": 2 if rng.random() < 0.75 else 3,
        "notes": notes,
    }
    if not notes:
        del obs["notes"]
    return {k: v for k, v in obs.items() if v is not None}


# --- reporting: which sources see which incident ---------------------------------------
@dataclass
class _Records:
    acled: list[tuple[dict[str, str], _Incident | None]] = field(default_factory=list)
    firms: list[tuple[list[str], _Incident | None]] = field(default_factory=list)
    observations: list[tuple[dict[str, Any], _Incident]] = field(default_factory=list)


def _firms_key(row: list[str]) -> str:
    return f"{row[0]},{row[1]},{row[5]},{row[6]}"


def _report(
    rng: np.random.Generator,
    geo: _Geo,
    incidents: list[_Incident],
    effective: datetime,
    end: date,
) -> _Records:
    rec = _Records()
    seen_firms: set[str] = set()
    acled_slots: set[tuple[str, str, str, str]] = set()
    last_day = end.isoformat()
    posts = np.array([(p[2], p[3]) for p in OBSERVER_POSTS])
    for inc in incidents:
        acled = rng.random() < (1.0 if inc.deep else _P_ACLED[inc.kind])
        # FIRMS: a fire that still burns at the next overpass
        if inc.kind in _P_FIRE and rng.random() < _P_FIRE[inc.kind]:
            nxt = _next_pass(inc.when)
            if nxt is not None:
                n = 1 + _pick(rng, (0.5, 0.3, 0.2))
                for row in _firms_pixels(
                    rng, geo, inc.lon, inc.lat, nxt[0], nxt[1], n, "strike", 0.0
                ):
                    key = _firms_key(row)
                    if row[5] <= last_day and key not in seen_firms:
                        seen_firms.add(key)
                        rec.firms.append((row, inc))
                        inc.firms_keys.append(key)
        # monitors: the nearest post(s) within range see or hear it
        azimuth, _, dist_m = _GEOD.inv(
            posts[:, 0], posts[:, 1], np.full(len(posts), inc.lon), np.full(len(posts), inc.lat)
        )
        dist_km = np.asarray(dist_m) / 1_000.0
        observers: list[int] = []
        if inc.anchor_post >= 0:
            if inc.kind == "heavy_weapon_sighting" or rng.random() < 0.9:
                observers.append(inc.anchor_post)
        else:
            first = int(np.argmin(dist_km))
            if dist_km[first] <= _OBSERVE_RANGE_KM:
                p_seen = 0.9 if dist_km[first] <= 8.0 else 0.7
                if rng.random() < p_seen:
                    observers.append(first)
        if inc.kind not in ("small_arms_fire", "heavy_weapon_sighting"):
            for other in np.argsort(dist_km, kind="stable"):
                other = int(other)
                if other in observers or other == inc.anchor_post:
                    continue
                if dist_km[other] <= _OBSERVE_RANGE_KM and rng.random() < 0.4:
                    observers.append(other)
                break
        for post in observers:
            obs = _observation(rng, inc, post, float(azimuth[post]), float(dist_km[post]))
            rec.observations.append((obs, inc))
        if acled or not (observers or inc.firms_keys):
            event = _acled_for_incident(rng, inc, effective)
            # ACLED codes one event per place, day, type and actor: a second incident there
            # is folded into the first (and reported only by the other sources)
            slot = (
                event["event_date"],
                event["location"],
                event["sub_event_type"],
                event["actor1"],
            )
            if slot not in acled_slots or not (observers or inc.firms_keys):
                acled_slots.add(slot)
                rec.acled.append((event, inc))
    return rec


def _acled_day(row: dict[str, str]) -> date:
    return datetime.strptime(row["event_date"], "%d/%m/%Y %H:%M:%S").date()


def _number_acled(
    rng: np.random.Generator, rows: list[tuple[dict[str, str], _Incident | None]], extra: int
) -> list[tuple[str, str]]:
    """Give every row an ``id`` and ``event_id_cnty`` (ascending in time); returns
    ``extra`` more unused (id, event_id_cnty) pairs."""
    n = len(rows) + extra
    ids = np.sort(rng.choice(900_000, size=n, replace=False)) + 352_100_000
    nums = np.sort(rng.choice(100_000, size=n, replace=False))

    def chronological(i: int) -> tuple[date, datetime, int]:
        row, inc = rows[i]
        when = inc.when if inc is not None else datetime.max.replace(tzinfo=UTC)
        return _acled_day(row), when, i

    order = sorted(range(len(rows)), key=chronological)
    for rank, i in enumerate(order):
        row, inc = rows[i]
        row["id"] = str(int(ids[rank]))
        row["event_id_cnty"] = f"UKR9{int(nums[rank]):05d}"
        if inc is not None:
            inc.acled_ids.append(row["event_id_cnty"])
    return [(str(int(ids[k])), f"UKR9{int(nums[k]):05d}") for k in range(len(rows), n)]


def _number_observations(observations: list[tuple[dict[str, Any], _Incident]]) -> None:
    """Group observations into reports (one team, one local day) and number them."""
    observations.sort(key=lambda o: (o[0]["window_start"], o[0]["observer_id"], o[1].when))
    counters: dict[str, int] = {}
    for obs, inc in observations:
        start = datetime.strptime(obs["window_start"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        report = f"SMM-{start.astimezone(_KYIV):%Y-%m-%d}-{obs['observer_id']}"
        counters[report] = counters.get(report, 0) + 1
        obs["report_id"] = report
        obs["observation_id"] = str(counters[report])
        inc.field_ids.append(f"{report}/{obs['observation_id']}")


# --- writing ---------------------------------------------------------------------------
def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_json(path: Path, doc: object, *, indent: int | None = 2) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")


def _geojson(features: list[tuple[dict[str, Any], BaseGeometry]]) -> dict[str, Any]:
    def rounded(geom: BaseGeometry) -> dict[str, Any]:
        return dict(mapping(shapely.transform(geom, lambda xy: np.round(xy, 6))))

    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": rounded(geom)}
            for props, geom in features
        ],
    }


def _write_agreement(folder: Path, geo: _Geo, effective: datetime, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    labels = [name for name, _, _ in _LINE_VERTICES]
    line_props = {"name": "Line of contact (demo scenario)", "vertices": labels}
    _write_json(folder / "line.geojson", _geojson([(line_props, geo.line)]), indent=None)
    _write_json(
        folder / "control.geojson",
        _geojson([({"party": party}, poly) for party, poly in geo.control]),
        indent=None,
    )
    _write_json(
        folder / "sectors.geojson",
        _geojson([({"sector": name}, poly) for name, poly in geo.sectors]),
        indent=None,
    )
    _write_json(
        folder / "boundary.geojson",
        _geojson([({"name": "Ukraine (simplified outline)"}, geo.boundary)]),
        indent=None,
    )
    zones = "\n".join(
        f"  - {{id: {zid}, width_km: {width}, prohibits: [{', '.join(items)}]}}"
        for zid, width, items in _ZONES
    )
    text = f"""\
# demo scenario written by ceasewatch.demo_data (seed {seed}): real geography, invented events
name: Cessation of hostilities (demo scenario)
version_label: demo-seed-{seed}
parties: [UA, RU]
effective: {effective:%Y-%m-%dT%H:%M:%S}Z
line_of_contact: line.geojson
control: control.geojson
boundary: boundary.geojson
sectors: sectors.geojson
zones:
{zones}
prohibited_everywhere: [{", ".join(_PROHIBITED_EVERYWHERE)}]
report_cutoff: "19:30"
timezone: {TIMEZONE}
notes: >-
  A demonstration agreement: the four Minsk-style withdrawal bands measured from a line of
  contact through the front-line towns from Vovchansk to the Dnipro mouth.
"""
    (folder / "agreement.yaml").write_text(text, encoding="utf-8")


def _truth_rows(incidents: list[_Incident]) -> list[list[str]]:
    rows = []
    for inc in incidents:
        ids = [*inc.acled_ids, *inc.firms_keys, *inc.field_ids]
        rows.append(
            [
                inc.incident_id,
                inc.local_day.isoformat(),
                _num(inc.lon, 5),
                _num(inc.lat, 5),
                inc.kind,
                inc.weapon_class,
                f"{inc.distance_km:.2f}",
                inc.sector,
                ";".join(ids),
                _iso(inc.when),
                inc.side,
                _PLACES[inc.town][0],
                str(inc.fatalities),
                "true" if inc.escalation else "false",
                ";".join(inc.acled_ids),
                ";".join(inc.firms_keys),
                ";".join(inc.field_ids),
            ]
        )
    return rows


# --- rows planted broken on purpose ---------------------------------------------------
def _plant_acled(rows: list[dict[str, str]], spare: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Copies of two rows with fresh ids: one with 31 February, one with latitude 1xx."""
    bad_date = dict(rows[min(20, len(rows) - 1)])
    bad_date["id"], bad_date["event_id_cnty"] = spare[0]
    bad_date["event_date"] = "31/02/2025 00:00:00"
    bad_lat = dict(rows[min(150, len(rows) - 1)])
    bad_lat["id"], bad_lat["event_id_cnty"] = spare[1]
    bad_lat["latitude"] = "1" + bad_lat["latitude"]
    rows.insert(min(40, len(rows)), bad_date)
    rows.insert(min(220, len(rows)), bad_lat)
    return [
        {
            "file": "acled.csv",
            "line": next(i for i, r in enumerate(rows) if r is bad) + 2,
            "id": bad["event_id_cnty"],
            "field": what,
            "value": bad[what],
            "reason": reason,
        }
        for bad, what, reason in (
            (bad_date, "event_date", "unparseable date (there is no 31 February)"),
            (bad_lat, "latitude", "latitude out of range [-90, 90]"),
        )
    ]


def _plant_firms(rows: list[list[str]], unrelated: list[int]) -> list[dict[str, Any]]:
    """After two unrelated detections: a copy with a letter O in the latitude, and a copy
    cut after its ninth field."""
    first, second = unrelated[len(unrelated) // 3], unrelated[2 * len(unrelated) // 3]
    bad_num = list(rows[first])
    bad_num[0] = bad_num[0][:4] + "O" + bad_num[0][5:]
    truncated = list(rows[second])[:9]
    rows.insert(second + 1, truncated)
    rows.insert(first + 1, bad_num)
    return [
        {
            "file": "firms.csv",
            "line": first + 3,
            "field": "latitude",
            "value": bad_num[0],
            "reason": "latitude is not a number",
        },
        {
            "file": "firms.csv",
            "line": second + 4,
            "field": "(row)",
            "value": ",".join(truncated),
            "reason": f"truncated line: {len(truncated)} of {len(FIRMS_VIIRS_COLUMNS)} fields",
        },
    ]


def _plant_field(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of two observations (next free observation_id of their report): one with
    bearing_deg 400, one without observer_lat."""
    out = []
    for frac, what in ((0.3, "bearing_deg"), (0.7, "observer_lat")):
        src = observations[int(frac * (len(observations) - 1))]
        bad = dict(src)
        taken = sum(1 for o in observations if o["report_id"] == src["report_id"])
        bad["observation_id"] = str(taken + 1)
        if what == "bearing_deg":
            bad["bearing_deg"] = 400
            reason = "bearing_deg 400 is not in 0-360"
        else:
            del bad["observer_lat"]
            reason = "observer_lat is missing"
        at = next(i for i, o in enumerate(observations) if o is src) + 1
        observations.insert(at, bad)
        out.append(
            {
                "file": "field_reports.json",
                "position": at + 1,
                "id": f"{bad['report_id']}/{bad['observation_id']}",
                "field": what,
                "value": bad.get(what),
                "reason": reason,
            }
        )
    return out


# --- the entry point -------------------------------------------------------------------
@dataclass(frozen=True)
class DemoInputs:
    """Where :func:`generate_demo_inputs` wrote the scenario (all paths absolute)."""

    agreement_dir: Path
    acled_csv: Path
    firms_csv: Path
    field_reports_json: Path
    truth_csv: Path
    start: date
    end: date

    @property
    def scenario_json(self) -> Path:
        """Parameters, counts and the malformed rows planted on purpose."""
        return self.truth_csv.with_name("scenario.json")


def generate_demo_inputs(
    out_dir: Path, *, seed: int = 7, days: int = 35, end: date = date(2025, 10, 5)
) -> DemoInputs:
    """Write a demo scenario's agreement, source files and ground truth into ``out_dir``.

    Files: ``agreement/`` (``agreement.yaml``, ``line.geojson``, ``control.geojson``,
    ``sectors.geojson``, ``boundary.geojson``), ``acled.csv``, ``firms.csv``,
    ``field_reports.json``, ``truth.csv`` and ``scenario.json``.

    Parameters
    ----------
    out_dir
        Folder to write into (created if missing; files of an earlier run are replaced).
    seed
        Seed of the random generator: the same seed gives byte-identical files.
    days
        Length of the scenario in days (at least 14), ending on ``end`` inclusive.
    end
        Last day of the scenario (local dates, Europe/Kyiv).

    Returns
    -------
    DemoInputs
        The paths written and the scenario's first and last day. The ceasefire takes
        effect at 00:00 UTC on the fourth day; the last seven days carry an escalation
        in one sector (named in ``scenario.json``).
    """
    min_days = PRE_CEASEFIRE_DAYS + ESCALATION_DAYS + 4
    if days < min_days:
        msg = (
            f"days={days} is too short for the demo scenario: use at least {min_days} "
            f"({PRE_CEASEFIRE_DAYS} days before the ceasefire, a quiet stretch and "
            f"{ESCALATION_DAYS} days of escalation)"
        )
        raise ValueError(msg)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = end - timedelta(days=days - 1)
    effective = datetime.combine(start + timedelta(days=PRE_CEASEFIRE_DAYS), time(0), tzinfo=UTC)
    rng = np.random.default_rng(seed)
    geo = _geometry()

    escalation = _ESCALATION_CANDIDATES[int(rng.integers(len(_ESCALATION_CANDIDATES)))]
    incidents = _simulate(rng, geo, start, end, effective, SECTOR_NAMES.index(escalation))
    incidents.sort(key=lambda i: i.when)
    for n, inc in enumerate(incidents, start=1):
        inc.incident_id = f"INC-{n:04d}"
    rec = _report(rng, geo, incidents, effective, end)
    noise_acled = _acled_noise(rng, start, end, effective)
    rec.acled += [(row, None) for row in noise_acled]
    spare = _number_acled(rng, rec.acled, extra=2)
    noise_firms = _firms_noise(rng, geo, start, end)
    seen = {_firms_key(row) for row, _ in rec.firms}
    for row in noise_firms:
        if _firms_key(row) not in seen:
            seen.add(_firms_key(row))
            rec.firms.append((row, None))
    _number_observations(rec.observations)
    # ACLED exports list the newest first
    acled = sorted(rec.acled, key=lambda r: (_acled_day(r[0]), r[0]["event_id_cnty"]), reverse=True)
    acled_rows = [row for row, _ in acled]
    firms = sorted(rec.firms, key=lambda r: (r[0][5], r[0][6], float(r[0][0]), float(r[0][1])))
    firms_rows = [row for row, _ in firms]
    observations = [obs for obs, _ in rec.observations]
    malformed = [
        *_plant_acled(acled_rows, spare),
        *_plant_firms(firms_rows, [i for i, (_, inc) in enumerate(firms) if inc is None]),
        *_plant_field(observations),
    ]

    agreement_dir = out / "agreement"
    _write_agreement(agreement_dir, geo, effective, seed)
    paths = DemoInputs(
        agreement_dir=agreement_dir,
        acled_csv=out / "acled.csv",
        firms_csv=out / "firms.csv",
        field_reports_json=out / "field_reports.json",
        truth_csv=out / "truth.csv",
        start=start,
        end=end,
    )
    _write_csv(paths.acled_csv, ACLED_COLUMNS, [[r[c] for c in ACLED_COLUMNS] for r in acled_rows])
    _write_csv(paths.firms_csv, FIRMS_VIIRS_COLUMNS, firms_rows)
    _write_json(paths.field_reports_json, observations)
    _write_csv(paths.truth_csv, TRUTH_COLUMNS, _truth_rows(incidents))

    def counter(values: list[str]) -> dict[str, int]:
        return {v: values.count(v) for v in sorted(set(values))}

    n_sources = [
        int(bool(i.acled_ids)) + int(bool(i.firms_keys)) + int(bool(i.field_ids)) for i in incidents
    ]
    scenario = {
        "seed": seed,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "effective": _iso(effective),
        "timezone": TIMEZONE,
        "escalation": {
            "sector": escalation,
            "first_day": (end - timedelta(days=ESCALATION_DAYS - 1)).isoformat(),
            "last_day": end.isoformat(),
        },
        "files": {
            "agreement": "agreement/agreement.yaml",
            "acled": paths.acled_csv.name,
            "firms": paths.firms_csv.name,
            "field_reports": paths.field_reports_json.name,
            "truth": paths.truth_csv.name,
        },
        "counts": {
            "incidents": len(incidents),
            "incidents_by_category": counter([i.kind for i in incidents]),
            "incidents_by_sector": counter([i.sector or "(none)" for i in incidents]),
            "incidents_by_number_of_sources": {
                str(k): n_sources.count(k) for k in sorted(set(n_sources))
            },
            "acled_rows": len(acled_rows),
            "acled_rows_of_incidents": sum(1 for _, inc in rec.acled if inc is not None),
            "acled_rows_unrelated": len(noise_acled),
            "firms_rows": len(firms_rows),
            "firms_rows_of_incidents": sum(1 for _, inc in rec.firms if inc is not None),
            "firms_rows_unrelated": sum(1 for _, inc in rec.firms if inc is None),
            "field_observations": len(observations),
            "field_observations_of_incidents": len(rec.observations),
            "malformed": len(malformed),
        },
        "malformed": malformed,
        "observer_posts": [
            {"id": pid, "name": name, "lon": lon, "lat": lat}
            for pid, name, lon, lat in OBSERVER_POSTS
        ],
        "notes": [
            "truth.csv lists only incidents; unrelated records (farmland fires, a steelworks, "
            "protests, interceptions, the agreement, a prisoner exchange) and the malformed "
            "rows are in no incident.",
            "ACLED rows are coded to the nearest gazetteer town: geo_precision 1 lies 1-3 km "
            "from the incident, 2 lies 5-15 km from it; event_date is the local date.",
            "FIRMS keys are latitude,longitude,acq_date,acq_time as written in the file; "
            "field report ids are report_id/observation_id.",
            "malformed line numbers are 1-based lines of the file (the header is line 1); "
            "field report positions are 1-based indexes in the JSON list.",
        ],
    }
    _write_json(paths.scenario_json, scenario)
    return paths
