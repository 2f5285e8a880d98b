-- Warehouse schema: the only place where tables and views are defined.
-- Every row carries a trust label: 'official' (publisher's file as published),
-- 'derived' (computed by us or a third party from official data), 'demo' (synthetic).

CREATE TABLE build (
    build_id     VARCHAR PRIMARY KEY,
    mode         VARCHAR NOT NULL CHECK (mode IN ('real', 'demo')),
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    raw_dir      VARCHAR,
    code_version VARCHAR NOT NULL,
    schema_version INTEGER NOT NULL
);

CREATE TABLE sources (
    source_id     VARCHAR NOT NULL,   -- e.g. 'nil_boundaries'
    dataset       VARCHAR,            -- publisher's dataset code, e.g. 'ds964'
    title         VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,   -- file path or URL
    sha256        VARCHAR,
    bytes         BIGINT,
    file_format   VARCHAR,
    crs           VARCHAR,            -- CRS as read or as assumed (see notes)
    encoding      VARCHAR,
    rows_read     INTEGER NOT NULL,
    rows_loaded   INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    rows_repaired INTEGER NOT NULL DEFAULT 0,
    loaded_at     TIMESTAMP NOT NULL,
    licence       VARCHAR NOT NULL,
    trust         VARCHAR NOT NULL CHECK (trust IN ('official', 'derived', 'demo')),
    status        VARCHAR NOT NULL CHECK (status IN ('loaded', 'skipped', 'failed')),
                                      -- failed: the file was refused (notes say why and what to do)
    notes         VARCHAR,
    reference_date DATE,              -- the data's own date (edition, 'al 31/12/2022'); NULL = not stated
    attribution   VARCHAR,            -- attribution line required by the licence
    origin        VARCHAR,            -- where the copy came from (publisher URL, repository) when not the publisher
    PRIMARY KEY (source_id, path)
);

-- Every registered source and what this build found for it, so the app can say which dataset
-- would fill an empty theme (the app reads this, never the configuration on disk).
CREATE TABLE source_catalogue (
    source_id   VARCHAR PRIMARY KEY,
    themes      VARCHAR NOT NULL,   -- JSON list of place themes / tables it fills, e.g. ["makerspace"], ["population"]
    dataset     VARCHAR,            -- publisher's code, e.g. 'ds744'
    title       VARCHAR NOT NULL,
    portal_url  VARCHAR,            -- dataset page or download URL (config/datasets.toml), when known
    file_hint   VARCHAR,            -- file names it recognises, in words
    licence     VARCHAR,
    state       VARCHAR NOT NULL CHECK (state IN ('loaded', 'failed', 'absent', 'skipped'))  -- in this build;
                                    -- skipped: the source does not apply to this territory (level or area it lacks)
);

CREATE TABLE rejects (
    source_id  VARCHAR NOT NULL,
    path       VARCHAR NOT NULL,
    row_number INTEGER,              -- 1-based data row (header excluded); NULL = whole file
    raw        VARCHAR,              -- the raw values as JSON
    reason     VARCHAR NOT NULL,
    action     VARCHAR NOT NULL CHECK (action IN ('rejected', 'repaired', 'warning'))
);

-- The territory this warehouse describes (config/territories/<id>.toml, as the build read it).
CREATE TABLE territory (
    territory_id   VARCHAR PRIMARY KEY,
    name_it        VARCHAR NOT NULL,
    name_en        VARCHAR NOT NULL,
    centre_lon     DOUBLE NOT NULL,    -- centre for distance rings, EPSG:4326
    centre_lat     DOUBLE NOT NULL,
    centre_name_it VARCHAR NOT NULL,
    centre_name_en VARCHAR NOT NULL,
    area_crs       VARCHAR NOT NULL,   -- metric CRS of areas and distances
    bbox_west      DOUBLE,             -- bounding box of the loaded boundaries (NULL before they load)
    bbox_south     DOUBLE,
    bbox_east      DOUBLE,
    bbox_north     DOUBLE,
    profile_version VARCHAR NOT NULL,
    profile_sha256 VARCHAR NOT NULL
);

-- Its area levels, finest first (rank 0 = the level of maps, rankings and profiles).
CREATE TABLE territory_levels (
    level          VARCHAR PRIMARY KEY,  -- e.g. 'nil', 'municipio', 'comune'
    rank           INTEGER NOT NULL UNIQUE,
    parent_level   VARCHAR,              -- the level that groups this one (rank + 1), NULL for the top
    boundary_source VARCHAR NOT NULL,
    expected_count INTEGER,
    label_it       VARCHAR NOT NULL,
    label_en       VARCHAR NOT NULL,
    plural_it      VARCHAR NOT NULL,
    plural_en      VARCHAR NOT NULL,
    long_it        VARCHAR,
    long_en        VARCHAR
);

CREATE TABLE districts (
    level      VARCHAR NOT NULL,    -- a territory_levels.level (checked before the swap)
    id         INTEGER NOT NULL,
    name       VARCHAR NOT NULL,
    parent_id  INTEGER,             -- the area of the parent level (finest level only), by largest overlap
    area_m2    DOUBLE NOT NULL,     -- computed in the territory's metric CRS (territory.area_crs)
    centroid_lon DOUBLE NOT NULL,
    centroid_lat DOUBLE NOT NULL,
    geom_wkb   BLOB NOT NULL,       -- full geometry, EPSG:4326
    map_geojson VARCHAR NOT NULL,   -- coverage-simplified geometry for maps, EPSG:4326
    source_id  VARCHAR NOT NULL,
    trust      VARCHAR NOT NULL CHECK (trust IN ('official', 'derived', 'demo')),
    PRIMARY KEY (level, id)
);

CREATE TABLE population (
    level     VARCHAR NOT NULL,     -- a territory_levels.level
    district_id INTEGER NOT NULL,
    year      INTEGER,              -- NULL when the file does not state it (see sources.notes)
    reference_date DATE,            -- e.g. 2022-12-31 for 'al 31/12/2022'; NULL when not stated
    residents BIGINT NOT NULL CHECK (residents >= 0),
    source_id VARCHAR NOT NULL,
    path      VARCHAR NOT NULL,
    trust     VARCHAR NOT NULL CHECK (trust IN ('official', 'derived', 'demo'))
);

-- One population figure per district out of the dated series in `population`: official before
-- derived (before demo), dated before undated, then the latest year (and reference date).
-- A district missing from the newest official file falls back to an older or derived figure:
-- `year`, `reference_date`, `trust` and `source_id` say which one the pages show.
CREATE VIEW population_current AS
SELECT level, district_id, year, reference_date, residents, source_id, path, trust
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY level, district_id
        ORDER BY CASE trust WHEN 'official' THEN 0 WHEN 'derived' THEN 1 ELSE 2 END,
                 CASE WHEN coalesce(year, year(reference_date)) IS NULL THEN 1 ELSE 0 END,
                 coalesce(year, year(reference_date)) DESC NULLS LAST,
                 reference_date DESC NULLS LAST,
                 source_id, path
    ) AS rk
    FROM population
)
WHERE rk = 1;

-- Per-district headline figures used by the pages, for the territory's levels.
-- Finest level (rank 0): its current population figure over its own area. Parent level (rank 1):
-- the sum of its areas' current figures over the area of the same areas (e.g. Milan's 2016
-- Municipi and 2020 NIL do not nest, so the Municipio polygon's area would be wrong by up to
-- ±19%); NULL when any of its areas has no figure. population_year is the latest year among the
-- figures, population_year_min the earliest (they differ when an area falls back to an older
-- figure, e.g. NIL 8 absent from the 2022 file).
CREATE VIEW district_stats AS
WITH lv AS (
    SELECT max(CASE WHEN rank = 0 THEN level END) AS fine,
           max(CASE WHEN rank = 1 THEN level END) AS parent
    FROM territory_levels
),
fine AS (
    SELECT d.level, d.id, d.name, d.parent_id, d.area_m2, p.residents, p.year AS population_year,
           d.trust AS geometry_trust, p.trust AS population_trust,
           d.source_id AS geometry_source, p.source_id AS population_source
    FROM districts d
    JOIN lv ON d.level = lv.fine
    LEFT JOIN population_current p ON p.level = d.level AND p.district_id = d.id
),
grp AS (
    SELECT parent_id AS id, sum(area_m2) AS fine_area_m2, count(*) AS n_fine,
           count(residents) AS n_with_pop, sum(residents) AS residents,
           max(population_year) AS population_year, min(population_year) AS population_year_min,
           CASE WHEN bool_or(population_trust = 'demo') THEN 'demo'
                WHEN bool_and(population_trust = 'official') THEN 'official' ELSE 'derived' END AS population_trust,
           string_agg(DISTINCT population_source, ', ' ORDER BY population_source) AS population_source
    FROM fine WHERE parent_id IS NOT NULL GROUP BY parent_id
)
SELECT level, id, name, parent_id, area_m2, residents, population_year,
       population_year AS population_year_min,
       CASE WHEN residents IS NULL OR area_m2 = 0 THEN NULL ELSE residents / (area_m2 / 1e6) END AS density_km2,
       geometry_trust, population_trust, geometry_source, population_source
FROM fine
UNION ALL
SELECT d.level, d.id, d.name, NULL::INTEGER AS parent_id, d.area_m2,
       CASE WHEN m.n_with_pop = m.n_fine THEN m.residents END AS residents,
       CASE WHEN m.n_with_pop = m.n_fine THEN m.population_year END AS population_year,
       CASE WHEN m.n_with_pop = m.n_fine THEN m.population_year_min END AS population_year_min,
       CASE WHEN m.n_with_pop = m.n_fine AND m.fine_area_m2 > 0 THEN m.residents / (m.fine_area_m2 / 1e6) END AS density_km2,
       d.trust AS geometry_trust,
       CASE WHEN m.n_with_pop = m.n_fine THEN m.population_trust END AS population_trust,
       d.source_id AS geometry_source,
       CASE WHEN m.n_with_pop = m.n_fine THEN m.population_source END AS population_source
FROM districts d
JOIN lv ON d.level = lv.parent
LEFT JOIN grp m ON m.id = d.id;

-- Point (or small-area) entities the programme monitors: makerspaces, coworking spaces,
-- vacant/disused spaces and individual firms. One row per entity per source file.
CREATE TABLE places (
    theme       VARCHAR NOT NULL CHECK (theme IN ('makerspace', 'coworking', 'vacant', 'firm', 'historic_shop', 'hub')),
    source_id   VARCHAR NOT NULL,
    path        VARCHAR NOT NULL,
    source_key  VARCHAR NOT NULL,     -- the source's own id (or a stable row key)
    name        VARCHAR,
    address     VARCHAR,
    lon         DOUBLE,               -- EPSG:4326; NULL when the source has no coordinates
    lat         DOUBLE,
    district_id INTEGER,              -- area of the territory's finest level; NULL when only the parent is known
    parent_id   INTEGER,              -- area of the parent level (e.g. Municipio), when the territory has one
    assignment  VARCHAR NOT NULL CHECK (assignment IN ('point_in_polygon', 'file_id', 'parent_only', 'centroid')),
    category    VARCHAR,              -- theme-specific class (ATECO category, vacant typology, coworking type)
    status      VARCHAR,              -- e.g. vacant: 'degraded' / 'regeneration'; firm: 'active'
    ownership   VARCHAR CHECK (ownership IS NULL OR ownership IN ('public', 'private')),
    area_m2     DOUBLE,               -- lab m2, vacant area m2
    seats       INTEGER,              -- coworking seats
    employees   DOUBLE,
    ateco_code  VARCHAR,
    ateco_edition VARCHAR,
    started_on  DATE,
    attributes  VARCHAR,              -- other source columns as JSON
    geom_wkb    BLOB,                 -- polygon for areal entities (EPSG:4326), else NULL
    trust       VARCHAR NOT NULL CHECK (trust IN ('official', 'derived', 'demo'))
);

-- Aggregated local units per area of the finest level and ATECO code (ds201 layout).
CREATE TABLE firm_units (
    district_id   INTEGER NOT NULL,   -- area of the territory's finest level
    year          INTEGER NOT NULL,
    ateco_code    VARCHAR NOT NULL,
    ateco_edition VARCHAR NOT NULL,
    ateco_label   VARCHAR,
    category      VARCHAR NOT NULL,   -- programme category (config/ateco_categories.toml)
    units         INTEGER NOT NULL CHECK (units >= 0),
    avg_employees DOUBLE,
    source_id     VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,
    trust         VARCHAR NOT NULL CHECK (trust IN ('official', 'derived', 'demo'))
);

-- Firms, local units and employees by ATECO for a whole area (ds171 layout: the whole territory).
CREATE TABLE firm_totals (
    level         VARCHAR NOT NULL,   -- 'territory' (the whole territory) or a territory_levels.level
    area_id       VARCHAR NOT NULL,
    year          INTEGER NOT NULL,
    ateco_code    VARCHAR NOT NULL,   -- normalised dotted code, e.g. '01.62.0'
    ateco_edition VARCHAR NOT NULL,
    ateco_label   VARCHAR,
    category      VARCHAR NOT NULL,   -- programme category (config/ateco_categories.toml) or 'other'
    firms         BIGINT CHECK (firms >= 0),
    units         BIGINT CHECK (units >= 0),
    employees_firms DOUBLE,
    employees_units DOUBLE,
    source_id     VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,
    trust         VARCHAR NOT NULL CHECK (trust IN ('official', 'derived', 'demo'))
);

-- Counts per district published without the points behind them (e.g. coworking per NIL from a
-- derived per-NIL export). Used by the indicators only for a theme that has no point list.
CREATE TABLE area_counts (
    level       VARCHAR NOT NULL,     -- a territory_levels.level
    district_id INTEGER NOT NULL,
    theme       VARCHAR NOT NULL,     -- same theme words as places.theme
    year        INTEGER,              -- reference year when stated
    count       BIGINT NOT NULL CHECK (count >= 0),
    source_id   VARCHAR NOT NULL,
    path        VARCHAR NOT NULL,
    trust       VARCHAR NOT NULL CHECK (trust IN ('official', 'derived', 'demo'))
);

-- ---------------------------------------------------------------------------------------
-- Indicators, periphery classes, snapshots and targets (computed by etl/indicators.py).

-- One row per build that computed indicators; kept across builds (copied forward).
CREATE TABLE snapshots (
    snapshot_id        VARCHAR PRIMARY KEY,   -- = build_id of the build that made it
    created_at         TIMESTAMP NOT NULL,
    mode               VARCHAR NOT NULL,      -- 'real' / 'demo'
    catalogue_version  VARCHAR NOT NULL,      -- hash of config/indicators.toml
    periphery_version  VARCHAR NOT NULL,      -- version declared in config/periphery.toml
    taxonomy_version   VARCHAR NOT NULL,      -- hash of config/ateco_categories.toml ('none' if absent)
    source_versions    VARCHAR NOT NULL,      -- JSON: source_id -> list of sha256
    periphery_hash     VARCHAR,               -- hash of config/periphery.toml (catches edits without a version bump)
    targets_version    VARCHAR,               -- hash of config/targets.toml
    ateco_editions     VARCHAR,               -- JSON: source_id -> ATECO editions in firm_units / places
    notes              VARCHAR,               -- e.g. why the history restarted, or that the territory has no periphery file
    same_as            VARCHAR,               -- earlier snapshot with identical inputs and configuration: adds no trend point
    territory_id       VARCHAR                -- territory.territory_id of the build (history never mixes territories)
);

-- Changes between consecutive snapshots that could fake a trend (taxonomy, classification).
CREATE TABLE taxonomy_changes (
    snapshot_id  VARCHAR NOT NULL,
    component    VARCHAR NOT NULL,   -- 'ateco_categories' / 'ateco_edition' / 'periphery' / 'district_groups' /
                                     -- 'catalogue' / 'history' (history restarted)
    old_version  VARCHAR,
    new_version  VARCHAR NOT NULL,
    note         VARCHAR NOT NULL,
    affects      VARCHAR             -- JSON list of indicator ids / levels whose trend breaks here
);

-- District groups: periphery classes and the programme's priority areas (per snapshot).
CREATE TABLE district_groups (
    snapshot_id VARCHAR NOT NULL,
    group_level VARCHAR NOT NULL CHECK (group_level IN ('periphery_class', 'priority_area')),
    group_id    VARCHAR NOT NULL,    -- e.g. 'centro', 'semicentro', 'periferia', 'piano_quartieri'
    group_name  VARCHAR NOT NULL,
    district_id INTEGER NOT NULL,    -- area of the territory's finest level
    distance_m  DOUBLE,              -- distance of the area's representative point from the centre (territory.area_crs)
    basis       VARCHAR,             -- why the area is in the group (ring, override, config list), Italian
    group_name_en VARCHAR,           -- the same in English (periphery file: name_en, reason_en, rationale_en)
    basis_en    VARCHAR
);
-- No rows for a territory whose profile names no periphery file (snapshots.notes says so).

-- The indicator catalogue as used by a snapshot (from config/indicators.toml).
CREATE TABLE indicator_catalogue (
    snapshot_id    VARCHAR NOT NULL,
    indicator_id   VARCHAR NOT NULL,
    theme          VARCHAR NOT NULL,
    name_it        VARCHAR NOT NULL,
    name_en        VARCHAR NOT NULL,
    description_it VARCHAR NOT NULL,
    description_en VARCHAR NOT NULL,
    formula        VARCHAR NOT NULL,
    unit           VARCHAR NOT NULL,
    direction      VARCHAR NOT NULL CHECK (direction IN ('higher_better', 'lower_better', 'neutral')),
    sources        VARCHAR NOT NULL,   -- JSON list of source_id
    levels         VARCHAR NOT NULL,   -- JSON list of levels
    PRIMARY KEY (snapshot_id, indicator_id)
);

-- Indicator values per snapshot, level and area; NULL value always has a reason.
-- level: a territory_levels.level | 'periphery_class' | 'priority_area' | 'territory'; area_id as text.
CREATE TABLE indicator_values (
    snapshot_id  VARCHAR NOT NULL,
    indicator_id VARCHAR NOT NULL,
    level        VARCHAR NOT NULL,    -- checked against territory_levels before the swap
    area_id      VARCHAR NOT NULL,
    period       INTEGER,             -- data year when the source carries one, else NULL
    value        DOUBLE,
    numerator    DOUBLE,
    denominator  DOUBLE,
    reason       VARCHAR,             -- why value is NULL (or a caveat), Italian
    trust        VARCHAR NOT NULL CHECK (trust IN ('official', 'derived', 'demo')),
    reason_code  VARCHAR,             -- the reason as a code (templates reason_<code> in osservatorio/i18n.py);
                                      -- 'multi' = several parts (params {"parts": [[code, params], ...]});
                                      -- NULL = not coded: show `reason`
    reason_params VARCHAR,            -- JSON object of the template's parameters
    CHECK (value IS NOT NULL OR reason IS NOT NULL)
);

-- The groups of the territory's periphery file as a snapshot used them, in both languages, also
-- those no area falls in (n_areas = 0: their indicator values would have no area to point to, so
-- they have none). No rows for a territory without a periphery file.
CREATE TABLE periphery_groups (
    snapshot_id    VARCHAR NOT NULL,
    group_level    VARCHAR NOT NULL CHECK (group_level IN ('periphery_class', 'priority_area')),
    group_id       VARCHAR NOT NULL,
    sort_order     INTEGER NOT NULL,   -- order in the file (rings from the centre outwards)
    name_it        VARCHAR NOT NULL,
    name_en        VARCHAR NOT NULL,
    description_it VARCHAR,            -- ring description / priority-area rationale
    description_en VARCHAR,
    min_m          DOUBLE,             -- ring limits from the centre (periphery_class only); max_m NULL = no limit
    max_m          DOUBLE,
    is_peripheral  BOOLEAN NOT NULL,   -- the class of the periphery indicators (peripheral_class)
    n_areas        INTEGER NOT NULL,   -- areas of the finest level in the group in this snapshot
    PRIMARY KEY (snapshot_id, group_level, group_id)
);

-- The composite score's components and default weights of a snapshot (config/indicators.toml
-- [composite.opportunity_score] as the build read it): the app's defaults come from here.
CREATE TABLE scoring_weights (
    snapshot_id  VARCHAR NOT NULL,
    indicator_id VARCHAR NOT NULL,
    sort_order   INTEGER NOT NULL,
    direction    VARCHAR NOT NULL CHECK (direction IN ('higher', 'lower')),
    weight       DOUBLE NOT NULL CHECK (weight >= 0),
    why          VARCHAR,
    PRIMARY KEY (snapshot_id, indicator_id)
);

-- The programme's ATECO categories of a snapshot (config/ateco_categories.toml as the build read it).
CREATE TABLE ateco_category_labels (
    snapshot_id  VARCHAR NOT NULL,
    category     VARCHAR NOT NULL,
    sort_order   INTEGER NOT NULL,
    label_it     VARCHAR NOT NULL,
    label_en     VARCHAR NOT NULL,
    description  VARCHAR,
    PRIMARY KEY (snapshot_id, category)
);

-- Objectives and targets (config/targets.toml) with their computed status per snapshot.
CREATE TABLE target_status (
    snapshot_id  VARCHAR NOT NULL,
    target_id    VARCHAR NOT NULL,
    objective    VARCHAR NOT NULL,
    indicator_id VARCHAR NOT NULL,
    level        VARCHAR NOT NULL,
    area_id      VARCHAR NOT NULL,
    baseline     DOUBLE,
    baseline_date DATE,
    target_value DOUBLE NOT NULL,
    deadline     DATE NOT NULL,
    current_value DOUBLE,
    expected_value DOUBLE,           -- where a straight line from baseline to target is today
    status       VARCHAR NOT NULL CHECK (status IN ('on_track', 'at_risk', 'off_track', 'no_data')),
    rule         VARCHAR NOT NULL     -- the rule applied, in words
);

-- The programme's lines of intervention and objectives (config/programme.toml, written by
-- etl/programme.py at every build). The envelope (e.g. 10 M euro) sits on its line.
CREATE TABLE programme_lines (
    line_id        VARCHAR PRIMARY KEY,
    sort_order     INTEGER NOT NULL,
    name_it        VARCHAR NOT NULL,
    name_en        VARCHAR NOT NULL,
    description_it VARCHAR NOT NULL,
    description_en VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,   -- where the line comes from
    envelope_eur   DOUBLE,             -- the programme's envelope when it belongs to this line, else NULL
    envelope_funding VARCHAR,          -- JSON list of funding sources counted against the envelope
    envelope_source VARCHAR,           -- where the envelope comes from
    config_version VARCHAR NOT NULL,   -- version declared in config/programme.toml
    config_hash    VARCHAR NOT NULL    -- hash of the file
);

CREATE TABLE programme_objectives (
    objective_id VARCHAR PRIMARY KEY,
    line_id      VARCHAR NOT NULL,
    sort_order   INTEGER NOT NULL,
    name_it      VARCHAR NOT NULL,
    name_en      VARCHAR NOT NULL,
    indicators   VARCHAR NOT NULL,     -- JSON list of indicator ids (config/indicators.toml)
    targets      VARCHAR NOT NULL,     -- JSON list of target ids (config/targets.toml)
    basis        VARCHAR NOT NULL      -- where the objective comes from (e.g. a proposal to confirm)
);

-- How far each vacant space is from the nearest maker place (makerspace / fablab), per build:
-- computed in the ETL (etl/indicators.py) in the territory's metric CRS, read by the pages.
CREATE TABLE place_proximity (
    source_id    VARCHAR NOT NULL,      -- the vacant place (places.source_id, source_key)
    source_key   VARCHAR NOT NULL,
    near_theme   VARCHAR NOT NULL,      -- 'makerspace'
    nearest_m    DOUBLE,                -- NULL when the place or every maker lacks coordinates
    within_m     INTEGER NOT NULL,      -- radius of the count below, metres
    n_within     INTEGER,               -- makers within that radius; NULL when nearest_m is NULL
    nearest_name VARCHAR,
    PRIMARY KEY (source_id, source_key, near_theme)
);
