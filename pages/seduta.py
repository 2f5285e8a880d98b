"""Seduta: the advisory board's review session. Choose a session and two snapshots, see what changed,
attach notes and decisions, download the board pack (HTML, PDF).

Widgets only: the comparison is osservatorio.review, the notes live in osservatorio.board_store (read
fresh on every run, never cached), the board pack is osservatorio.boardpack. Warehouse reads go
through the cached osservatorio.queries. With OSSERVATORIO_READ_ONLY=1 every form is hidden and the
PDF is off. Writing needs the editor role (osservatorio.auth): the forms are shown only to those who
may write, and every callback passes the signed-in user to the store, which checks the role again
(the author is the signed-in e-mail, never a typed name). A note's author or an admin can correct or
withdraw it; the earlier text stays in its history. User text (titles, names, notes) is plain text:
st.text, or Markdown-escaped where a Markdown element is needed, bidi controls removed (ui.md_escape, review.plain_text).
Areas are the territory's (`ctx.territory`): movements and maps at its finest level, labels from its levels.
The board decides here on proposed actions of the programme register (approve, reject, postpone) and on
target revisions; each decision records the session and is listed in its minutes (the board pack).
"""

from __future__ import annotations

import time
from datetime import date

import pandas as pd
import streamlit as st

from osservatorio import auth, board_store, boardpack, calibration, downloads, maps, queries, review, ui
from osservatorio import programme_views as pv
from osservatorio.board_store import BoardStore, BoardStoreError, Note, Session
from osservatorio.i18n import fmt_date, t
from osservatorio.page_views import seduta as view
from osservatorio.programme_store import DECISIONS, ProgrammeStore
from osservatorio.territory import TERRITORY_LEVEL

NONE = "-"  # "no snapshot to compare with"


def error_text(exc: BoardStoreError, lang: str) -> str:
    """A store error in the user's language (the Italian message when the code has no translation)."""
    text = t(exc.code, lang, **{k: ui.md_escape(str(v)) for k, v in exc.params.items()})
    return ui.md_escape(str(exc)) if text == exc.code else text


def flash(kind: str, text: str) -> None:
    st.session_state["rv_flash"] = (kind, text)


def author() -> auth.User:
    """The signed-in user, read again in every callback (the store checks their role)."""
    return auth.current_user()


def capture_places(store: BoardStore, reader: queries.CachedReader, snapshot_ids: list[str], build_id: str) -> None:
    """Keep the current build's place keys in the store (once per snapshot), for later comparisons."""
    if store.read_only or build_id not in snapshot_ids or build_id in store.captured_snapshots():
        return
    store.record_places(build_id, review.current_place_keys(reader))


def create_session(store: BoardStore, reader: queries.CachedReader, snapshots: pd.DataFrame, lang: str) -> None:
    """Form callback: create the session, remember it in the URL, record the current places."""
    state = st.session_state
    ids = review.snapshot_ids(snapshots)
    held_on = state.get("rv_new_date") or date.today()
    snapshot_id = state.get("rv_new_snapshot") if ids else None
    compare_id = state.get("rv_new_compare", "auto") if ids else None
    if compare_id == "auto":
        compare_id = review.default_compare(store.list_sessions(), snapshots, snapshot_id, held_on)
    elif compare_id == NONE:
        compare_id = None
    try:
        session = store.create_session(held_on, state.get("rv_new_title", ""), state.get("rv_new_participants", ""),
                                       snapshot_id, compare_id, author())
        capture_places(store, reader, ids, reader.build_info().build_id)
    except BoardStoreError as exc:
        flash("error", error_text(exc, lang))
        return
    for key in ("rv_new_title", "rv_new_participants"):
        state[key] = ""
    for key in ("url_seduta", "url_snapshot", "url_confronto"):
        state.pop(key, None)
    for param in ("snapshot", "confronto"):
        if param in st.query_params:
            del st.query_params[param]
    st.query_params["seduta"] = str(session.session_id)
    flash("success", t("rv_session_duplicate" if session.duplicate else "rv_session_created", lang,
                       title=ui.md_escape(session.title)))


def add_note(store: BoardStore, session_id: int, target_kind: str, target_ref: str | None, lang: str) -> None:
    """Form callback: attach the note; keep the text when it is refused, so nothing typed is lost."""
    state = st.session_state
    try:
        if target_ref is None:
            raise BoardStoreError("nessun elemento da annotare", "rv_note_no_ref")
        note = store.add_note(session_id, state.get("rv_note_kind", "note"), target_kind, target_ref,
                              state.get("rv_note_body", ""), author())
    except BoardStoreError as exc:
        flash("error", error_text(exc, lang))
        return
    state["rv_note_body"] = ""
    flash("success", t("rv_note_duplicate" if note.duplicate else "rv_note_added", lang))


def save_snapshots(store: BoardStore, session_id: int, snapshot_id: str | None, compare_id: str | None,
                   lang: str) -> None:
    try:
        store.set_snapshots(session_id, snapshot_id, compare_id, by=author())
    except BoardStoreError as exc:
        flash("error", error_text(exc, lang))
        return
    flash("success", t("rv_snapshots_saved", lang))


def correct_note(store: BoardStore, note_id: int, lang: str) -> None:
    """Form callback: replace the note's text (the store checks author or admin)."""
    try:
        store.correct_note(note_id, st.session_state.get(f"rv_fix_body_{note_id}", ""), author())
    except BoardStoreError as exc:
        flash("error", error_text(exc, lang))
        return
    st.session_state.pop(f"rv_fixing_{note_id}", None)
    flash("success", t("rv_note_corrected", lang))


def withdraw_note(store: BoardStore, note_id: int, lang: str) -> None:
    try:
        store.withdraw_note(note_id, author())
    except BoardStoreError as exc:
        flash("error", error_text(exc, lang))
        return
    flash("success", t("rv_note_withdrawn", lang))


def decide_action(programme: ProgrammeStore, session_id: int, versions: dict[int, int], lang: str) -> None:
    """Form callback: the board's decision on an action, signed by the user signed in now (the store
    checks the role at this moment: a role withdrawn since the page was drawn cannot decide)."""
    s = st.session_state
    try:
        action_id = int(s["rv_action_choice"])
        change = programme.decide(action_id, versions[action_id], s.get("rv_action_decision", "approved"), session_id,
                                  author(), s.get("rv_action_reason", ""))
    except BoardStoreError as exc:
        flash("error", error_text(exc, lang))
        return
    s["rv_action_reason"] = ""
    flash("success", t("rv_action_decided", lang, id=change.action_id,
                       status=t(f"pg_status_{change.action.status}", lang)))


def note_actions(store: BoardStore, note: Note, user: auth.User, lang: str) -> None:
    """Correct / withdraw for the note's author or an admin; the earlier versions in an expander."""
    if writable and store.may_change(note, user):
        a, b, _ = st.columns([1, 1, 4])
        a.button(t("rv_note_correct", lang), key=f"rv_fix_{note.note_id}", icon=":material/edit:",
                 on_click=lambda: st.session_state.update({f"rv_fixing_{note.note_id}": True}))
        b.button(t("rv_note_withdraw", lang), key=f"rv_withdraw_{note.note_id}", icon=":material/delete:",
                 on_click=withdraw_note, args=(store, note.note_id, lang))
        if st.session_state.get(f"rv_fixing_{note.note_id}"):
            with st.form(f"rv_fix_form_{note.note_id}", border=False):
                st.text_area(t("rv_note_new_text", lang), value=note.body, key=f"rv_fix_body_{note.note_id}", height=120)
                st.form_submit_button(t("rv_note_save", lang), type="primary", on_click=correct_note,
                                      args=(store, note.note_id, lang))
    history = store.note_history(note.note_id)
    if history:
        with st.expander(t("rv_note_history", lang, n=len(history))):
            for version in history:
                st.text(review.plain_text(t("rv_note_version", lang, when=review.fmt_timestamp(version.written_at, lang),
                                            who=version.written_by, change=t(f"rv_change_{version.change}", lang))))
                st.text(review.plain_text(version.body))


# --- page ---------------------------------------------------------------------------------------------------

ctx = ui.page_start("page_review")
lang = ctx.lang
user = auth.sidebar(lang)
store = BoardStore.from_env()
reader = queries.CachedReader(ctx.key)
writable = not store.read_only and user.can("write")
st.write(t("rv_intro", lang))

if "rv_flash" in st.session_state:
    kind, text = st.session_state.pop("rv_flash")
    (st.success if kind == "success" else st.error)(text)

if store.read_only:
    st.sidebar.info(t("rv_read_only", lang))
elif not writable and user.signed_in:
    st.sidebar.info(t("rv_role_cannot_write", lang, role=t(f"auth_role_{user.role}", lang)))
elif not writable and auth.auth_configured():
    st.sidebar.info(t("rv_sign_in_to_write", lang))

snapshots = reader.snapshots()
snap_ids = review.snapshot_ids(snapshots)
try:
    sessions = store.list_sessions()
    if not store.read_only:  # bookkeeping of the build's place keys, not a user's write
        capture_places(store, reader, snap_ids, ctx.info.build_id)
except BoardStoreError as exc:
    st.error(error_text(exc, lang))
    st.stop()


def snap_label(snapshot_id: str) -> str:
    return t("rv_none_compare", lang) if snapshot_id == NONE else review.snapshot_label(snapshots, snapshot_id, lang)


if writable:
    with st.expander(t("rv_new_session", lang), expanded=not sessions, icon=":material/add:"):
        with st.form("rv_new_session_form", clear_on_submit=False, border=False):
            st.date_input(t("rv_date", lang), value=date.today(), key="rv_new_date",
                          format="DD/MM/YYYY" if lang == "it" else "YYYY-MM-DD")
            st.text_input(t("rv_title", lang), key="rv_new_title", max_chars=board_store.MAX_TITLE_CHARS)
            st.text_area(t("rv_participants", lang), key="rv_new_participants", help=t("rv_participants_help", lang),
                         height=90)
            if snap_ids:
                st.selectbox(t("rv_snapshot", lang), snap_ids, key="rv_new_snapshot", format_func=snap_label)
                st.selectbox(t("rv_compare", lang), ["auto", *snap_ids, NONE], key="rv_new_compare",
                             format_func=lambda s: t("rv_compare_auto", lang) if s == "auto" else snap_label(s))
            else:
                st.caption(t("rv_no_snapshots", lang))
            st.form_submit_button(t("rv_create", lang), type="primary", on_click=create_session,
                                  args=(store, reader, snapshots, lang))

if not sessions:
    st.info(t("rv_no_sessions", lang) if writable else t("rv_no_sessions_ro", lang))
    st.stop()

by_id = {s.session_id: s for s in sessions}
chosen = ui.url_choice(t("rv_session", lang), [str(s.session_id) for s in sessions], "seduta", lang,
                       default=str(sessions[0].session_id),
                       format_func=lambda i: review.session_label(by_id[int(i)], lang))
session: Session = by_id[int(chosen)]
if st.session_state.get("rv_last_session") not in (None, chosen):  # another session: its own snapshots
    for param in ("snapshot", "confronto"):
        if param in st.query_params:
            del st.query_params[param]
    for key in ("url_snapshot", "url_confronto"):
        st.session_state.pop(key, None)
st.session_state["rv_last_session"] = chosen

st.subheader(ui.md_escape(session.title), anchor=False)  # user text: escaped, never a link or an image
st.text(review.plain_text(t("rv_session_facts", lang, date=fmt_date(session.held_on, lang),
                            people=", ".join(session.participants) or "–", author=session.created_by)))

if not snap_ids:
    st.info(t("rv_no_snapshots", lang))
    snapshot_id: str | None = None
    compare_id: str | None = None
else:
    left, right = st.columns(2)
    with left:
        snapshot_id = ui.url_choice(t("rv_snapshot", lang), snap_ids, "snapshot", lang,
                                    default=session.snapshot_id if session.snapshot_id in snap_ids else snap_ids[0],
                                    format_func=snap_label)
    default_cmp = session.compare_id if session.compare_id in snap_ids else review.default_compare(
        sessions, snapshots, snapshot_id, session.held_on, session.session_id)
    with right:
        chosen_cmp = ui.url_choice(t("rv_compare", lang), [*snap_ids, NONE], "confronto", lang,
                                   default=default_cmp or NONE, format_func=snap_label)
    compare_id = None if chosen_cmp == NONE else chosen_cmp
    if writable and (snapshot_id, compare_id) != (session.snapshot_id, session.compare_id):
        st.button(t("rv_save_snapshots", lang), on_click=save_snapshots,
                  args=(store, session.session_id, snapshot_id, compare_id, lang), icon=":material/save:")

territory = ctx.territory
fine = territory.fine
comparison = review.compare(reader, snapshot_id, compare_id, store.snapshot_places, territory=territory)
summary = comparison.summary()
if comparison.same_snapshot:
    st.info(t("rv_same_snapshot", lang))
elif snap_ids and not comparison.comparable:
    st.info(t("rv_no_comparison", lang))
places_known = comparison.places.available
compared = comparison.comparable and not comparison.same_snapshot  # without a comparison, a change count is '–', never 5
metrics = [  # (label, value, help)
    ("rv_metric_movements", summary["movements"] if compared else "–", "rv_sum_movements"),
    ("rv_metric_targets_changed", summary["targets_changed"] if compared else "–", "rv_sum_targets_changed"),
    ("rv_metric_targets_worsened", summary["targets_worsened"] if compared else "–", "rv_sum_targets_worsened"),
    ("rv_metric_makerspaces", f"+{summary['makerspaces_new']} / −{summary['makerspaces_lost']}" if places_known else "–",
     "rv_places_title"),
    ("rv_metric_vacant", f"+{summary['vacant_new']} / −{summary['vacant_lost']}" if places_known else "–",
     "rv_places_title"),
    ("rv_metric_sources", summary["sources_changed"] if compared else "–", "rv_sum_sources_changed"),
]
for column, (label, value, help_key) in zip(st.columns(len(metrics)), metrics, strict=True):
    column.metric(t(label, lang), value, help=t(help_key, lang))

tab_moves, tab_targets, tab_places, tab_data, tab_notes, tab_revisions, tab_actions, tab_pack = st.tabs(
    [t("rv_tab_moves", lang), t("rv_tab_targets", lang), t("rv_tab_places", lang), t("rv_tab_data", lang),
     t("rv_tab_notes", lang), t("cal_tab", lang), t("rv_tab_actions", lang), t("rv_tab_pack", lang)],
    key="rv_tab", on_change="rerun")  # the open tab is kept across reruns: after "Aggiungi" or "Prepara il PDF"
names = comparison.district_names

with tab_moves:
    top = review.top_movements(comparison.moves, 15)
    if top.empty:
        st.info(t("rv_no_movements", lang))
    else:
        st.caption(t("rv_moves_help", lang))
        st.dataframe(review.movement_table(top, comparison.catalogue, names, lang, territory=territory), hide_index=True,
                     width="stretch")
        moved = list(dict.fromkeys(review.top_per_indicator(comparison.moves, 1)["indicator_id"]))
        indicator = st.selectbox(t("rv_change_map_indicator", lang), moved, key="rv_map_indicator",
                                 format_func=lambda i: review.indicator_label(comparison.catalogue, i, lang))
        part = comparison.moves[comparison.moves["indicator_id"] == indicator]
        stats = queries.district_stats(ctx.key, fine.id)
        frame = stats[["id", "name"]].assign(label=[f"{i} · {n}" for i, n in zip(stats["id"], stats["name"], strict=True)])
        change = dict(zip(part["area_id"].astype(str), part["change"], strict=True))
        frame["change"] = [change.get(str(int(i))) for i in frame["id"]]
        frame["change"] = pd.to_numeric(frame["change"], errors="coerce")
        hover = [review.fmt_change(c, lang) for c in frame["change"]]
        st.plotly_chart(maps.choropleth(queries.map_geojson(ctx.key, fine.id), frame, "change", "label",
                                        t("rv_change_map_title", lang,
                                          indicator=review.indicator_label(comparison.catalogue, indicator, lang)),
                                        review.indicator_unit(comparison.catalogue, indicator),
                                        map_style=ctx.map_style, hover_value=hover),
                        width="stretch", key="rv_change_map")
        with st.expander(t("rv_per_indicator", lang)):
            per = review.top_per_indicator(comparison.moves, 3)
            st.dataframe(review.movement_table(per, comparison.catalogue, names, lang, territory=territory), hide_index=True,
                         width="stretch")
    city = comparison.city[comparison.city["kind"] != "unchanged"] if not comparison.city.empty else comparison.city
    if not city.empty:
        st.markdown(f"**{ui.md_escape(t('rv_city_title', lang, territory=territory.name(lang)))}**")
        st.dataframe(review.movement_table(city, comparison.catalogue, names, lang, level=TERRITORY_LEVEL, territory=territory),
                     hide_index=True, width="stretch")

with tab_targets:
    if comparison.targets.empty:
        st.info(t("rv_no_targets", lang))
    else:
        only_changed = st.toggle(t("rv_only_changed", lang), value=False, key="rv_targets_changed")
        shown = comparison.targets[comparison.targets["changed"]] if only_changed else comparison.targets
        st.dataframe(review.target_table(shown, comparison.catalogue, names, lang, territory), hide_index=True,
                     width="stretch")

with tab_places:
    diff = comparison.places
    if not comparison.comparable:
        st.info(t("rv_no_comparison", lang))
    elif not diff.available:
        st.warning(t("rv_places_unavailable", lang, snapshots=", ".join(diff.missing) or "–"))
        for theme in diff.inferred_unchanged:
            st.info(t("rv_places_inferred", lang, theme=t(f"rv_theme_{theme}", lang)))
    else:
        st.caption(t("rv_places_help", lang))
        for title_key, frame in (("rv_places_new", diff.new), ("rv_places_lost", diff.lost)):
            st.markdown(f"**{t(title_key, lang)}**")
            if frame.empty:
                st.caption(t("rv_none", lang))
            else:
                st.dataframe(review.place_table(frame, names, lang, territory), hide_index=True, width="stretch")

with tab_data:
    st.caption(t("rv_data_help", lang))
    sources_table = review.source_change_table(comparison.sources, lang)
    changes_table = review.data_change_table(comparison, lang)
    if sources_table.empty and changes_table.empty:
        st.info(t("rv_no_data_changes", lang))
    if not sources_table.empty:
        st.dataframe(sources_table, hide_index=True, width="stretch")
    if not changes_table.empty:
        st.dataframe(changes_table, hide_index=True, width="stretch")

with tab_notes:
    kinds = list(board_store.TARGET_KINDS)
    if writable:
        st.markdown(f"**{t('rv_new_note', lang)}**")
        target_kind = st.selectbox(t("rv_note_target", lang), kinds, key="rv_note_target_kind",
                                   format_func=lambda k: t(f"rv_target_{k}", lang))
        if target_kind == "indicator":
            refs = list(comparison.catalogue["indicator_id"]) if not comparison.catalogue.empty else []
            label = lambda r: review.indicator_label(comparison.catalogue, r, lang)  # noqa: E731
        elif target_kind == "district":
            refs = view.note_area_refs(names, territory)
            label = lambda r: review.area_label(fine.id, r.partition(":")[2], names, lang, territory)  # noqa: E731
        elif target_kind == "target":
            refs = list(comparison.targets["target_id"]) if not comparison.targets.empty else []
            label = lambda r: review.target_label(comparison.targets, r)  # noqa: E731
        else:
            refs = [str(session.session_id)]
            label = lambda _r: session.title  # noqa: E731
        ref = st.selectbox(t("rv_note_ref", lang), refs, key=f"rv_note_ref_{target_kind}", format_func=label) \
            if refs else None
        if not refs:
            st.caption(t("rv_note_no_ref", lang))
        with st.form("rv_note_form", border=True):
            st.radio(t("rv_note_kind", lang), list(board_store.NOTE_KINDS), key="rv_note_kind", horizontal=True,
                     format_func=lambda k: t(f"rv_kind_{k}", lang))
            # No max_chars: the browser would cut a longer pasted text silently; the store refuses it
            # with a clear message instead, and the text stays in the box.
            st.text_area(t("rv_note_body", lang), key="rv_note_body", height=140,
                         help=t("rv_note_body_help", lang, max=board_store.MAX_NOTE_CHARS))
            st.form_submit_button(t("rv_note_submit", lang), type="primary", on_click=add_note,
                                  args=(store, session.session_id, target_kind, ref, lang))
        st.divider()
    st.markdown(f"**{t('rv_notes_list', lang)}**")
    f1, f2, f3, f4 = st.columns([1, 1, 1, 2])
    only_session = f1.toggle(t("rv_filter_this_session", lang), value=True, key="rv_filter_session")
    show_withdrawn = f1.toggle(t("rv_show_withdrawn", lang), value=False, key="rv_filter_withdrawn")
    kind_filter = f2.selectbox(t("rv_filter_kind", lang), ["*", *board_store.NOTE_KINDS], key="rv_filter_kind",
                               format_func=lambda k: t("rv_all", lang) if k == "*" else t(f"rv_kind_{k}", lang))
    target_filter = f3.selectbox(t("rv_filter_target", lang), ["*", *kinds], key="rv_filter_target",
                                 format_func=lambda k: t("rv_all", lang) if k == "*" else t(f"rv_target_{k}", lang))
    text_filter = f4.text_input(t("rv_filter_text", lang), key="rv_filter_text", max_chars=200)
    try:
        notes = store.list_notes(session_id=session.session_id if only_session else None,
                                 kind=None if kind_filter == "*" else kind_filter,
                                 target_kind=None if target_filter == "*" else target_filter, text=text_filter or None,
                                 include_withdrawn=show_withdrawn)
    except BoardStoreError as exc:
        st.error(error_text(exc, lang))
        notes = []
    note_labels = [review.note_target_label(n, comparison.catalogue, names, comparison.targets, by_id, lang, territory)
                   for n in notes]
    if not notes:
        st.caption(t("rv_no_notes", lang))
    for note, note_label in zip(reversed(notes), reversed(note_labels), strict=True):
        with st.container(border=True, key=f"rv_note_{note.note_id}"):
            st.badge(t(f"rv_kind_{note.kind}", lang), color="blue" if note.kind == "decision" else "gray")
            if note.withdrawn:
                st.badge(t("rv_kind_withdrawn", lang), color="red")
            # User text is shown with st.text: never interpreted as markdown or HTML.
            st.text(review.plain_text(f"{note_label} · {note.author} · {review.fmt_timestamp(note.created_at, lang)}"))
            if note.changed_by and note.changed_at:
                st.caption(ui.md_escape(t("rv_note_edited", lang, who=note.changed_by,
                                          when=review.fmt_timestamp(note.changed_at, lang))))
            st.text(review.plain_text(note.body))
            note_actions(store, note, user, lang)
    if notes:
        table = review.notes_table(notes, note_labels, by_id, lang)
        spec = downloads.page_spec(ctx, "note_seduta", filters={t("rv_session", lang): str(session.session_id)})
        downloads.download_menu(table, spec, lang, key="rv_notes_dl")

with tab_revisions:  # target revisions (osservatorio.calibration): decided here, in this session
    cal_store = calibration.CalibrationStore.from_env(demo=ctx.info.is_demo)
    user = auth.current_user()
    try:
        pending, decided = cal_store.revisions(state="pending"), cal_store.revisions(session_id=session.session_id)
    except BoardStoreError as exc:
        st.error(error_text(exc, lang))
        pending, decided = [], []
    st.markdown(f"**{t('cal_pending_title', lang)}**")
    if not pending:
        st.caption(t("cal_no_pending", lang))
    else:
        ui.table(calibration.revisions_table(pending, lang, with_target=True), lang)
        if writable and not cal_store.read_only and user.can("write"):
            def decide_revision() -> None:
                """The signed-in user is read again at the click: the store refuses a role withdrawn meanwhile."""
                s = st.session_state
                try:
                    cal_store.decide(int(s["cal_rev_choice"]), session.session_id, s.get("cal_rev_decision", "approved"),
                                     s.get("cal_rev_reason", ""), author())
                except BoardStoreError as exc:
                    flash("error", error_text(exc, lang))
                    return
                s["cal_rev_reason"] = ""
                flash("success", t("cal_decided", lang))

            labels = {str(r.revision_id): calibration.revision_label(r, lang) for r in pending}
            with st.form("cal_decide_form", border=True):
                st.selectbox(t("cal_col_revision", lang), list(labels), key="cal_rev_choice", format_func=labels.get)
                st.radio(t("cal_decision", lang), list(calibration.DECISIONS), key="cal_rev_decision", horizontal=True,
                         format_func=lambda d: t(f"cal_decision_{d}", lang))
                st.text_area(t("cal_decision_reason", lang), key="cal_rev_reason", height=80)
                st.form_submit_button(t("cal_decide", lang), type="primary", on_click=decide_revision)
        else:
            st.caption(t("cal_editors_only", lang))
    st.markdown(f"**{t('cal_decided_title', lang)}**")
    if decided:
        ui.table(calibration.revisions_table(decided, lang, with_target=True), lang)
    else:
        st.caption(t("rv_none", lang))

with tab_actions:  # proposed actions of the programme register: decided here, in this session
    st.caption(t("rv_actions_help", lang))
    try:
        programme = pv.open_store(ctx)
        register = programme.actions()
        session_decisions = programme.decisions(session.session_id)
    except BoardStoreError as exc:
        st.error(error_text(exc, lang))
        programme, register, session_decisions = None, [], []
    index, line_frame = pv.place_index(ctx.key), pv.lines(ctx.key)
    waiting = view.waiting_actions(register)
    st.markdown(f"**{t('rv_actions_waiting', lang)}**")
    if not waiting:
        st.caption(t("rv_actions_none_waiting", lang))
    else:
        ui.table(view.waiting_table(waiting, line_frame, index, lang, territory), lang)
        if programme is not None and writable and not programme.read_only:
            titles, versions = view.action_choices(waiting)
            with st.form("rv_action_form", border=True):
                st.selectbox(t("pg_col_action", lang), list(titles), key="rv_action_choice", format_func=titles.get)
                st.radio(t("cal_decision", lang), list(DECISIONS), key="rv_action_decision", horizontal=True,
                         format_func=lambda d: t(f"rv_action_decision_{d}", lang))
                st.text_area(t("cal_decision_reason", lang), key="rv_action_reason", height=80)
                st.form_submit_button(t("cal_decide", lang), type="primary", on_click=decide_action,
                                      args=(programme, session.session_id, versions, lang))
        else:
            st.caption(t("rv_actions_editors_only", lang))
    st.markdown(f"**{t('rv_actions_decided', lang)}**")
    if session_decisions:
        ui.table(boardpack.decisions_table(session_decisions, line_frame, index, lang, territory), lang)
    else:
        st.caption(t("rv_none", lang))

with tab_pack:
    st.write(t("rv_pack_intro", lang))

    def build_html() -> bytes:
        pack = boardpack.assemble(reader, store, session, comparison, lang,
                                  calibration_store=calibration.CalibrationStore.from_env(demo=ctx.info.is_demo))
        return boardpack.render_html(pack).encode("utf-8")

    st.download_button(t("rv_pack_html", lang), data=build_html, file_name=boardpack.filename(session, "html"),
                       mime="text/html", on_click="ignore", key="rv_pack_html", icon=":material/download:",
                       help=t("rv_pack_html_help", lang))
    pdf_ok, pdf_reason = boardpack.pdf_status(read_only=store.read_only)
    pdf_key = (session.session_id, snapshot_id, compare_id, lang)
    if not pdf_ok:
        st.button(t("rv_pack_pdf_make", lang), disabled=True, key="rv_pack_pdf_make")
        st.info(t(pdf_reason, lang, path=str(boardpack.chromium_path())))
    else:
        # The click sets a flag (a callback runs before the script): it survives a rerun of the page.
        st.button(t("rv_pack_pdf_make", lang), key="rv_pack_pdf_make", icon=":material/picture_as_pdf:",
                  on_click=lambda: st.session_state.update(rv_pdf_requested=True))
        if st.session_state.pop("rv_pdf_requested", False):
            try:  # one chromium at a time per process, one PDF per session every PDF_COOLDOWN_S
                with boardpack.pdf_slot(st.session_state.get("rv_pdf_started"), time.monotonic()):
                    st.session_state["rv_pdf_started"] = time.monotonic()
                    with st.spinner(t("rv_pack_pdf_wait", lang)):
                        document = boardpack.render_html(boardpack.assemble(reader, store, session, comparison, lang,
                                  calibration_store=calibration.CalibrationStore.from_env(demo=ctx.info.is_demo)))
                        st.session_state["rv_pdf"] = (pdf_key, boardpack.html_to_pdf(document))
            except boardpack.PdfUnavailable as exc:
                (st.info if exc.code in ("rv_pdf_busy", "rv_pdf_cooldown") else st.error)(
                    t(exc.code, lang, path=str(boardpack.chromium_path()), **exc.params))
        ready = st.session_state.get("rv_pdf")
        if ready and ready[0] == pdf_key:
            st.download_button(t("rv_pack_pdf", lang), data=ready[1], file_name=boardpack.filename(session, "pdf"),
                               mime="application/pdf", on_click="ignore", key="rv_pack_pdf", icon=":material/download:")
