//! Property tests of the Mahak adapter: the edge conversions, the pure paging state machine
//! against random RowVersion layouts (with and without edits between calls, with an honest
//! and with a silently capping server), and a few random layouts over HTTP against the
//! simulator.

use std::collections::BTreeMap;
use std::pin::pin;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Asia::Tehran;
use futures::StreamExt;
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::json;
use sync::mahak::convert::{
    rial, rial_to_wire, tehran_local_to_utc, tehran_to_utc, utc_to_tehran_local,
    utc_to_tehran_text, ConvertError, MAX_SAFE_RIAL,
};
use sync::mahak::lenient::FromWire;
use sync::mahak::paging::{CursorWalk, Fetch, Verdict, WalkError};
use sync::mahak::{pages, Entity, MahakClient, MahakClientConfig, PagingOptions};
use sync::simulator::{start, DataSizes, SimulatorConfig};

// ---------------------------------------------------------------------------------------------
// Money

proptest! {
    #[test]
    fn rial_round_trips_every_safe_integer(v in -MAX_SAFE_RIAL..=MAX_SAFE_RIAL) {
        #[allow(clippy::cast_precision_loss)]
        let wire = v as f64;
        prop_assert_eq!(rial("price1", wire), Ok(v));
        prop_assert_eq!(rial_to_wire("price1", v), Ok(wire));
        prop_assert_eq!(rial("price1", rial_to_wire("price1", v).unwrap()), Ok(v));
    }

    #[test]
    fn non_integral_amounts_are_rejected(int in -(1i64 << 40)..(1i64 << 40), frac in 0.001f64..0.999) {
        #[allow(clippy::cast_precision_loss)]
        let v = int as f64 + frac;
        prop_assume!(v.fract() != 0.0);
        let is_not_integral = matches!(
            rial("price1", v),
            Err(ConvertError::NotIntegral { field: "price1", .. })
        );
        prop_assert!(is_not_integral);
    }

    #[test]
    fn amounts_beyond_2_pow_53_are_rejected(excess in 1i64..(1i64 << 60), negative: bool) {
        #[allow(clippy::cast_precision_loss)]
        let mut v = (MAX_SAFE_RIAL as f64) + (excess as f64).max(2.0);
        if negative {
            v = -v;
        }
        prop_assume!(v.abs() > MAX_SAFE_RIAL as f64);
        let out_of_range = matches!(rial("price1", v), Err(ConvertError::OutOfRange { .. }));
        prop_assert!(out_of_range);
        prop_assert!(rial_to_wire("price1", MAX_SAFE_RIAL + excess).is_err());
    }

    #[test]
    fn numbers_sent_as_strings_read_as_numbers(i: i64, f in -1e15f64..1e15) {
        prop_assert_eq!(i64::from_wire(&json!(i.to_string())), Ok(Some(i)));
        prop_assert_eq!(f64::from_wire(&json!(f.to_string())), Ok(Some(f)));
        prop_assert_eq!(f64::from_wire(&json!(f)), Ok(Some(f)));
    }
}

// ---------------------------------------------------------------------------------------------
// Time

/// 1970 to 2100, millisecond precision: the range Mahak's data lives in, across Iran's DST
/// years (1977-1980, 1991-2005, 2008-2022).
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800, 0u32..1000)
        .prop_map(|(secs, ms)| DateTime::from_timestamp(secs, ms * 1_000_000).expect("in range"))
}

fn local() -> impl Strategy<Value = NaiveDateTime> {
    instant().prop_map(|t| t.naive_utc())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn utc_to_tehran_and_back(t in instant()) {
        let text = utc_to_tehran_text(t);
        let back = tehran_to_utc("date", &text).unwrap().unwrap();
        let local = utc_to_tehran_local(t);
        match Tehran.from_local_datetime(&local) {
            LocalResult::Single(_) => prop_assert_eq!(back, t),
            // The autumn hour that happened twice reads as its first occurrence.
            LocalResult::Ambiguous(earlier, later) => {
                prop_assert_eq!(back, earlier.with_timezone(&Utc));
                prop_assert!(t == earlier.with_timezone(&Utc) || t == later.with_timezone(&Utc));
            }
            LocalResult::None => prop_assert!(false, "a UTC instant maps to an existing local time"),
        }
    }

    #[test]
    fn tehran_to_utc_and_back(l in local()) {
        let t = tehran_local_to_utc(l);
        let again = utc_to_tehran_local(t);
        match Tehran.from_local_datetime(&l) {
            LocalResult::None => {
                // A time that never happened (the clock jumped) moves forward by the jump.
                let offset = |at: NaiveDateTime| {
                    let t = Utc.from_utc_datetime(&at).with_timezone(&Tehran);
                    i64::from(t.offset().fix().local_minus_utc())
                };
                // `offset` reads its argument as UTC, and Tehran is 3.5-4.5 h ahead, so the
                // jump's UTC instant lies about 3.5 h before `l`: look 6 h back and 3 h on.
                let jump = offset(l + Duration::hours(3)) - offset(l - Duration::hours(6));
                prop_assert!(jump > 0);
                prop_assert_eq!(again, l + Duration::seconds(jump));
            }
            _ => prop_assert_eq!(again, l),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Paging: the pure state machine against an in-memory server

/// Rows as (id, RowVersion); the server serves them ordered by (RowVersion, id).
#[derive(Debug, Clone)]
struct Server {
    rows: BTreeMap<i64, i64>,
    cap: u32,
    next_rv: i64,
}

impl Server {
    fn layout(groups: &[usize], gaps: &[i64], cap: u32) -> Server {
        let mut rows = BTreeMap::new();
        let mut rv = 0;
        let mut id = 0;
        for (i, size) in groups.iter().enumerate() {
            rv += gaps.get(i).copied().unwrap_or(1).max(1);
            for _ in 0..*size {
                id += 1;
                rows.insert(id, rv);
            }
        }
        Server {
            rows,
            cap,
            next_rv: rv + 1,
        }
    }

    fn answer(&self, fetch: Fetch) -> Vec<(i64, i64)> {
        let mut sorted: Vec<(i64, i64)> = self
            .rows
            .iter()
            .filter(|(_, rv)| **rv >= fetch.cursor)
            .map(|(id, rv)| (*rv, *id))
            .collect();
        sorted.sort_unstable();
        sorted
            .into_iter()
            .take(fetch.page_size.min(self.cap) as usize)
            .map(|(rv, id)| (id, rv))
            .collect()
    }

    /// An edit in "Mahak": the row takes the next RowVersion.
    fn edit(&mut self, id: i64) {
        if let Some(rv) = self.rows.get_mut(&id) {
            *rv = self.next_rv;
            self.next_rv += 1;
        }
    }

    fn group_size(&self, rv: i64) -> usize {
        self.rows.values().filter(|v| **v == rv).count()
    }

    fn last_group_size(&self) -> usize {
        self.rows
            .values()
            .max()
            .map_or(0, |max| self.group_size(*max))
    }
}

/// Runs a walk; `edits[i]` is applied after the i-th call (row id modulo the row count).
/// Returns the latest RowVersion seen per id and the error, if any.
fn walk(
    server: &mut Server,
    page: u32,
    max: u32,
    probe_min_rows: u32,
    edits: &[i64],
) -> (BTreeMap<i64, i64>, Option<WalkError>) {
    let mut walk = CursorWalk::new(0, page, max, probe_min_rows);
    let mut seen = BTreeMap::new();
    let mut calls = 0usize;
    let bound = 20 * (server.rows.len() + edits.len()) + 100;
    while let Some(fetch) = walk.next_fetch() {
        calls += 1;
        assert!(calls <= bound, "the walk does not terminate");
        let rows = server.answer(fetch);
        let verdict = walk.on_answer(rows.len(), rows.iter().map(|(_, rv)| *rv).max());
        match verdict {
            Ok(Verdict::Yield { from, next }) => {
                assert_eq!(from, fetch.cursor);
                assert!(next >= from);
                for (id, rv) in rows {
                    let entry = seen.entry(id).or_insert(rv);
                    *entry = (*entry).max(rv);
                }
            }
            Ok(Verdict::Skip) => {}
            Err(e) => return (seen, Some(e)),
        }
        if let Some(edit) = edits.get(calls - 1) {
            let n = i64::try_from(server.rows.len()).unwrap_or(1).max(1);
            server.edit(edit.rem_euclid(n) + 1);
        }
    }
    (seen, None)
}

fn layout() -> impl Strategy<Value = (Vec<usize>, Vec<i64>)> {
    (
        prop::collection::vec(prop_oneof![4 => 1usize..4, 1 => 4usize..60], 1..30),
        prop::collection::vec(1i64..5, 30),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// An honest server: every row seen at its RowVersion, unless a group is larger than the
    /// largest page, which is then reported, never looped on. Whether the walk probes for a
    /// server cap (`probe_min_rows`) changes nothing here.
    #[test]
    fn paging_sees_every_row_or_reports_stuck(
        (groups, gaps) in layout(),
        page in 1u32..40,
        extra in 0u32..200,
        probe_min_rows in 0u32..40,
    ) {
        let max = page + extra;
        let mut server = Server::layout(&groups, &gaps, u32::MAX);
        let (seen, error) = walk(&mut server, page, max, probe_min_rows, &[]);
        match error {
            None => prop_assert_eq!(&seen, &server.rows),
            Some(WalkError::Stuck { row_version, page_size }) => {
                prop_assert_eq!(page_size, max);
                prop_assert!(server.group_size(row_version) >= max as usize);
            }
            Some(other) => prop_assert!(false, "unexpected {:?}", other),
        }
        if groups.iter().all(|g| *g < max as usize) {
            prop_assert!(error.is_none());
        }
    }

    /// Edits between calls: every row ends at its latest RowVersion.
    #[test]
    fn paging_picks_up_edits_made_between_calls(
        (groups, gaps) in layout(),
        page in 1u32..40,
        edits in prop::collection::vec(any::<i64>(), 0..20),
        probe_min_rows in 0u32..40,
    ) {
        let mut server = Server::layout(&groups, &gaps, u32::MAX);
        let max = u32::try_from(server.rows.len()).unwrap_or(u32::MAX) + 1;
        let (seen, error) = walk(&mut server, page, max.max(page), probe_min_rows, &edits);
        prop_assert_eq!(error, None);
        prop_assert_eq!(&seen, &server.rows);
    }

    /// A server that silently caps pages below what the walk asks: either everything is seen,
    /// or the cap is reported. The blind spots (documented): a cap below `probe_min_rows`
    /// (the walk then stops at a RowVersion group at least as large as the cap), and, with any
    /// cap, nothing newer than the last RowVersion group while that group is larger than the
    /// cap.
    #[test]
    fn a_capping_server_never_loses_rows_silently(
        (groups, gaps) in layout(),
        page in 2u32..40,
        cap_fraction in 0.1f64..1.0,
        extra in 0u32..200,
        probe_min_rows in 0u32..40,
    ) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let cap = ((f64::from(page) * cap_fraction) as u32).max(1);
        let mut server = Server::layout(&groups, &gaps, cap);
        let (seen, error) = walk(&mut server, page, page + extra, probe_min_rows, &[]);
        match error {
            None if seen != server.rows && cap < probe_min_rows => {
                // Not probed: the walk stopped on `cap` rows that all shared its cursor's
                // RowVersion, taking them for the end. Everything missing lies at or past
                // such a group.
                let first_missing = server
                    .rows
                    .iter()
                    .filter(|(id, rv)| seen.get(id) != Some(rv))
                    .map(|(_, rv)| *rv)
                    .min()
                    .expect("rows are missing");
                let stopped_at_a_capped_group = server
                    .rows
                    .values()
                    .any(|rv| *rv <= first_missing && server.group_size(*rv) >= cap as usize);
                prop_assert!(stopped_at_a_capped_group, "rows lost below the probe threshold");
            }
            None => {
                if seen != server.rows {
                    prop_assert!(server.last_group_size() > cap as usize, "rows lost silently");
                    let missing_only_in_last_group = server
                        .rows
                        .iter()
                        .filter(|(id, _)| !seen.contains_key(id))
                        .all(|(_, rv)| Some(rv) == server.rows.values().max());
                    prop_assert!(missing_only_in_last_group);
                }
            }
            Some(WalkError::ServerCap { row_version, .. }) => {
                prop_assert!(server.group_size(row_version) >= cap as usize);
            }
            Some(WalkError::Stuck { row_version, .. }) => {
                prop_assert!(server.group_size(row_version) >= cap as usize);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Paging over HTTP against the simulator, random shared RowVersions and page sizes

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn http_paging_matches_the_simulator(
        shares in prop::collection::vec((0usize..200, 1usize..80), 0..5),
        page in 5u32..120,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let sim = start(SimulatorConfig {
                sizes: DataSizes::for_products(80),
                seed: 11,
                max_page_size: 1000,
                ..SimulatorConfig::default()
            })
            .await
            .expect("simulator");
            let control = sim.control();
            let entity = Entity::ProductDetail;
            let ids: Vec<i64> = control.snapshot(entity).iter().map(|r| r.id).collect();
            for (start_at, len) in &shares {
                let group: Vec<i64> = ids.iter().copied().cycle().skip(*start_at).take(*len).collect();
                control.share_row_version(entity, &group);
            }
            let mut config =
                MahakClientConfig::new(sim.base_url(), "demo", SecretString::from("demo"), 1);
            config.rate_limit = None;
            let client = MahakClient::new(config).expect("client");
            let options = PagingOptions { page_size: page, max_page_size: 1000, ..PagingOptions::default() };
            let mut latest: BTreeMap<i64, (i64, bool)> = BTreeMap::new();
            let mut stream = pin!(pages(client, entity, 0, &options));
            while let Some(item) = stream.next().await {
                let page = item.expect("no error");
                for r in &page.records {
                    let e = latest.entry(r.id()).or_insert((r.row_version(), r.deleted()));
                    if r.row_version() >= e.0 {
                        *e = (r.row_version(), r.deleted());
                    }
                }
            }
            let expected: BTreeMap<i64, (i64, bool)> = control
                .snapshot(entity)
                .iter()
                .map(|r| (r.id, (r.row_version, r.deleted)))
                .collect();
            assert_eq!(latest, expected);
            sim.shutdown().await;
        });
    }
}
