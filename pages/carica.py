"""Carica dati: an editor uploads a file and sees a dry run; an admin publishes it (osservatorio.upload)."""

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from etl.base import SourceError
from etl.sources.census import MAPPABLE, THEMES
from etl.sources.point_files import FIELD_LABELS
from osservatorio import auth, maps, queries, ui, upload, views
from osservatorio.i18n import t
from osservatorio.settings import load_settings

ctx = ui.page_start("page_upload")
lang, territory = ctx.lang, ctx.territory
settings = load_settings()
live = Path(ctx.key.path)  # the warehouse of the territory shown: the dry run compares with it, a publish rebuilds it
if settings.read_only:
    st.info(t("up_read_only", lang))
    st.stop()
user = auth.sidebar(lang)  # sign-in / sign-out in the sidebar; the role decides the rest
if not user.can("upload"):
    auth.require("upload", lang)  # says why (no identity provider, not signed in, role) and stops
base = upload.base_dir(ctx.info.raw_dir)
if base is None:
    st.warning(t("up_no_base", lang))
    st.stop()

st.write(t("up_intro", lang, mb=upload.MAX_BYTES // (1024 * 1024)))
st.caption(t("up_base", lang, folder=views.md_text(base.name), raw=views.md_text(upload.raw_dir())))
file = st.file_uploader(t("up_file", lang), type=[s.lstrip(".") for s in upload.SUFFIXES], key="carica_file")
job: upload.PublishJob | None = st.session_state.get("carica_job")
if file is None and job is None:
    st.stop()



def show_job(job: upload.PublishJob) -> None:
    """Progress of a publish in this session until it ends, then its outcome; the page stops here."""
    bar = st.progress(job.fraction, text=t("up_publishing", lang))
    while not job.wait(0.5):
        bar.progress(job.fraction, text=f"{t('up_publishing', lang)} {views.plain(job.message)[:120]}")
    bar.progress(1.0, text=t("up_publish_done", lang) if job.error is None else t("up_publish_failed", lang))
    if job.error is None:
        st.success(t("up_published", lang, name=views.md_text(job.target.name if job.target else "")))
    else:
        st.error(t("up_publish_error", lang, error=views.md_text(job.error)))
    if st.button(t("up_new", lang), key="carica_new"):
        del st.session_state["carica_job"]
        st.rerun()
    st.stop()


if job is not None:  # a publish in progress (or just finished) in this session
    show_job(job)

assert file is not None
try:
    checked = upload.check_upload(file.name, file.getvalue())
except SourceError as exc:
    st.error(t("up_refused", lang, error=views.md_text(str(exc))))
    st.stop()
st.caption(t("up_checked", lang, name=views.md_text(checked.name), kb=f"{checked.size / 1024:.1f}",
             sha=checked.sha256[:16], rows="–" if checked.rows is None else checked.rows))

recognised = upload.recognise(checked)
entry = None
unfit = upload.territory_fit(recognised, territory.id, territory.level_ids)
if recognised and len(unfit) == len(recognised):  # validated against the territory's levels before any build
    for u in unfit:
        if u.kind == "level":
            st.error(t("up_unfit_level", lang, source=views.md_text(u.source_id), level=views.md_text(u.value),
                       territory=territory.name(lang),
                       levels=", ".join(lv.label(lang) for lv in territory.levels)))
        else:
            st.error(t("up_unfit_territory", lang, source=views.md_text(u.source_id), territories=views.md_text(u.value),
                       territory=territory.name(lang)))
    st.stop()
if recognised:
    st.success(t("up_recognised", lang, sources=", ".join(recognised)))
elif checked.kind not in ("csv", "xlsx"):
    st.error(t("up_unknown_geo", lang))
    st.stop()
else:
    st.warning(t("up_unknown", lang))
    none = "—"
    theme = st.selectbox(t("up_theme", lang), THEMES, key="carica_theme", format_func=lambda x: t(f"theme_{x}", lang))
    cols = st.columns(3)
    chosen: dict[str, str] = {}
    for i, name in enumerate(MAPPABLE):
        pick = cols[i % 3].selectbox(f"{FIELD_LABELS.get(name, name)} ({name})", [none, *checked.columns],
                                     key=f"carica_col_{name}", format_func=views.plain)
        if pick != none:
            chosen[name] = pick
    try:
        entry = upload.census_entry(checked, theme, chosen)
    except SourceError as exc:
        st.info(t("up_mapping_incomplete", lang, problem=views.md_text(exc.problem)))
        st.stop()
    with st.expander(t("up_mapping_toml", lang)):
        st.code(upload.entry_toml(entry), language="toml")

run_key = (checked.sha256, json.dumps(entry, sort_keys=True))
result: upload.DryRun | None = st.session_state.get("carica_dry", {}).get(run_key)
if result is None:
    with st.spinner(t("up_dry_running", lang)):
        try:
            result = upload.dry_run(checked, base, live, entry, territory=territory.id)
        except SourceError as exc:
            st.error(t("up_dry_failed", lang, error=views.md_text(str(exc))))
            st.stop()
    st.session_state["carica_dry"] = {run_key: result}

st.subheader(t("up_dry_title", lang))
if result.status != "loaded":
    st.error(t(f"up_status_{result.status}", lang))
a, b, c, d = st.columns(4)
a.metric(t("up_rows_read", lang), result.rows_read)
b.metric(t("up_rows_loaded", lang), result.rows_loaded)
c.metric(t("up_rows_repaired", lang), result.rows_repaired)
d.metric(t("up_rows_rejected", lang), result.rows_rejected)
for note in result.notes:
    st.caption(views.md_text(note))
if len(result.rejects):
    st.markdown(f"**{t('up_rejects', lang)}**")
    frame = result.rejects.assign(raw=views.plain_column(result.rejects["raw"]),
                                  reason=views.plain_column(result.rejects["reason"]),
                                  action=[t(f"action_{a}", lang) for a in result.rejects["action"]])
    ui.table(frame.rename(columns={"row_number": t("up_col_row", lang), "action": t("up_col_action", lang),
                                   "reason": t("up_col_reason", lang), "raw": t("up_col_raw", lang)}), lang)
if len(result.points):
    geo = queries.map_geojson(ctx.key, territory.fine.id)
    stats = pd.DataFrame({"id": [f["id"] if "id" in f else f["properties"].get("id") for f in geo["features"]]})
    counts = result.districts.set_index("district_id")["places"]
    stats["count"] = [counts.get(i) for i in stats["id"]]
    stats["label"] = [str(i) for i in stats["id"]]
    fig = maps.choropleth(geo, stats, "count", "label", t("up_map_title", lang), t("up_places", lang),
                          ctx.map_style)
    pts = result.points
    maps.add_points(fig, pts, t("up_places", lang), str(pts["theme"].iloc[0]),
                    hover=[views.plain(f"{n} – {a}") for n, a in zip(pts["name"], pts["address"], strict=True)])
    st.plotly_chart(fig, key="carica_map")
    st.markdown(f"**{t('up_districts', lang)}**")
    areas = result.districts.assign(area_name=views.plain_column(result.districts["area_name"]))
    if territory.parent is None:
        areas = areas.drop(columns="parent_id")
    ui.table(areas.rename(columns={"district_id": t("th_col_area_id", lang, fine=territory.fine.label(lang)),
                                   "area_name": territory.fine.label(lang),
                                   "parent_id": territory.parent.label(lang) if territory.parent else "",
                                   "places": t("up_places", lang)}), lang)
st.markdown(f"**{t('up_changes', lang)}**")
if result.changes.empty:
    st.info(t("up_no_changes", lang))
else:
    changes = result.changes
    st.caption(t("up_changes_count", lang, values=len(changes), indicators=changes["indicator_id"].nunique()))
    names = [views.plain(n) if isinstance(n, str) and n else i
             for n, i in zip(changes[f"name_{lang}"], changes["indicator_id"], strict=True)]
    shown = pd.DataFrame({t("up_col_indicator", lang): names,
                          t("up_col_level", lang): [territory.level_label(x, lang) if x == "territory" or x in territory.level_ids
                                                    else t(f"level_{x}", lang) for x in changes["level"]],
                          t("up_col_area", lang): views.plain_column(changes["area_id"]),
                          t("up_col_before", lang): changes["before"], t("up_col_after", lang): changes["after"]})
    ui.table(shown, lang, decimals={t("up_col_before", lang): 2, t("up_col_after", lang): 2})
for failed in result.build_failed:
    st.caption(t("up_other_failed", lang, what=views.md_text(failed)))

def _request_publish(sha: str) -> None:
    """The button's callback: the role is checked again now (it may have been withdrawn since the button was
    drawn); only a session allowed to publish at this moment records the request."""
    if auth.current_user().can("publish"):
        st.session_state["carica_publish_requested"] = sha
    else:
        st.session_state["carica_publish_refused"] = sha


st.subheader(t("up_publish_title", lang))
# The click is recorded by a callback (before the run), so a rerun of the page does not lose it.
requested = st.session_state.pop("carica_publish_requested", None) == checked.sha256
if st.session_state.pop("carica_publish_refused", None) == checked.sha256:
    st.error(t("up_publish_refused", lang))
if result.status != "loaded":
    st.info(t("up_cannot_publish", lang))
elif not user.can("publish"):
    st.info(t("up_admin_only", lang))
elif st.button(t("up_publish", lang), type="primary", key="carica_publish", on_click=_request_publish,
               args=(checked.sha256,)) or requested:
    publisher = auth.current_user()  # once more at the moment the build starts, never the role the page began with
    if not publisher.can("publish"):
        st.error(t("up_publish_refused", lang))
        st.stop()
    st.session_state.pop("carica_dry", None)  # its "what would change" is relative to the build being replaced
    st.session_state["carica_job"] = upload.PublishJob(checked, publisher.label, live, base, entry, territory=territory.id)
    show_job(st.session_state["carica_job"])
