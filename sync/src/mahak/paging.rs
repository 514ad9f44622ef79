//! Paging one entity over Mahak's inclusive RowVersion cursor.
//!
//! Mahak has no continuation token: a client asks `GetAllData` for the rows with
//! `RowVersion >= cursor` (most likely inclusive, see the Mahak notes), advances the cursor to
//! the highest RowVersion received, and repeats until a call brings nothing newer. Two traps:
//!
//! - **Rows sharing a RowVersion.** The cursor cannot point *inside* a group of rows with
//!   the same RowVersion. When a *full* page holds nothing newer than the cursor, more rows
//!   share the cursor's RowVersion than fit in a page; asking again with the same page size
//!   would return the same page forever. The walk then asks with a larger `pageSize`
//!   (doubling, up to `max_page_size`) until the answer reaches past the group, and fails with
//!   [`PagingError::Stuck`] when even the largest page cannot.
//! - **A server that caps `pageSize` silently** (`pageSize` is undocumented). An answer with
//!   fewer rows than asked normally means "that is all", and ends the walk. A capped server
//!   answers the same way while rows are still missing only when its answer holds exactly
//!   its cap of rows, all at the cursor's RowVersion. So when that closing answer holds at
//!   least [`PagingOptions::probe_min_rows`] rows, the walk probes `cursor + 1` once before
//!   ending: rows there that the cursor's answer did not bring mean the server cut the page,
//!   and the walk fails with [`PagingError::ServerCap`] instead of silently stopping short
//!   (and stopping there again on every later run). A smaller closing answer (the usual one:
//!   an idle run gets back just the row at its inclusive cursor) is taken as the end without
//!   a probe, so an idle walk costs one call; a server capping pages below `probe_min_rows`
//!   rows goes undetected.
//!
//! The cursor logic is a pure state machine, [`CursorWalk`], so it can be tested against any
//! RowVersion layout without HTTP; [`pages`] drives it with a [`MahakClient`] as a `Stream`.
//! Each yielded [`Page`] carries the cursor it was fetched from and the next one; the caller
//! checkpoints `next_cursor` only after it has durably handled the page. Rows at the start
//! cursor are seen again (inclusive): consumers are idempotent. Memory is one page: nothing
//! accumulates across pages.

use futures::Stream;

use super::client::MahakClient;
use super::entity::Entity;
use super::error::MahakError;
use super::models::RequestAllData;
use super::records::{parse_rows, Record, RejectedRow};

/// How to page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagingOptions {
    /// Rows asked per call normally.
    pub page_size: u32,
    /// The largest `pageSize` the walk may ask for when rows sharing a RowVersion do not fit;
    /// it should not exceed what the server honours.
    pub max_page_size: u32,
    /// `orderTypes` for the `Order` entity (e.g. `[201, 202]`); ignored for the others.
    pub order_types: Option<Vec<i32>>,
    /// The fewest rows a closing answer (not full, nothing newer than the cursor) must hold
    /// for the walk to probe `cursor + 1` for a silent server cap before ending. A capped
    /// server's closing answer holds exactly its cap of rows; caps below 20 rows are not
    /// plausible (a server would not page that finely), so the default is 20 and such caps go
    /// undetected. Without the threshold every walk would end with a probe, doubling the calls
    /// of an idle run (whose closing answer is the one row at its inclusive cursor). `0` or
    /// `1`: probe after every non-empty closing answer.
    pub probe_min_rows: u32,
}

/// The default of [`PagingOptions::probe_min_rows`].
pub const PROBE_MIN_ROWS: u32 = 20;

impl Default for PagingOptions {
    fn default() -> Self {
        Self {
            page_size: 500,
            max_page_size: 8000,
            order_types: None,
            probe_min_rows: PROBE_MIN_ROWS,
        }
    }
}

/// Why paging stopped short.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PagingError {
    #[error(transparent)]
    Client(#[from] MahakError),
    /// More rows share one RowVersion than the largest allowed page holds.
    #[error(
        "{entity}: more than {page_size} rows share RowVersion {row_version}; \
         raise max_page_size to page past them"
    )]
    Stuck {
        entity: Entity,
        row_version: i64,
        page_size: u32,
    },
    /// The server returned fewer rows than asked, all at the cursor, while newer rows exist:
    /// it caps `pageSize` below what was asked, and more rows share the cursor's RowVersion
    /// than that cap.
    #[error(
        "{entity}: the server returned only {returned} rows, all at RowVersion {row_version}, \
         for pageSize {requested} although newer rows exist: it caps pages below the asked \
         size and more rows share RowVersion {row_version} than its cap; lower page_size and \
         max_page_size to what the server honours"
    )]
    ServerCap {
        entity: Entity,
        row_version: i64,
        requested: u32,
        returned: u32,
    },
}

/// The next `GetAllData` call to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetch {
    pub cursor: i64,
    pub page_size: u32,
}

/// What to do with an answer's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand the rows on as a page fetched at `from`; checkpointing `next` is safe once they are
    /// handled.
    Yield { from: i64, next: i64 },
    /// Drop the rows: the next fetch returns all of them again and more (a bigger page of the
    /// same cursor), or the answer was empty.
    Skip,
}

/// Why the walk cannot go on (the pure part of [`PagingError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkError {
    Stuck {
        row_version: i64,
        page_size: u32,
    },
    ServerCap {
        row_version: i64,
        requested: u32,
        returned: u32,
    },
}

impl WalkError {
    fn into_paging(self, entity: Entity) -> PagingError {
        match self {
            WalkError::Stuck {
                row_version,
                page_size,
            } => PagingError::Stuck {
                entity,
                row_version,
                page_size,
            },
            WalkError::ServerCap {
                row_version,
                requested,
                returned,
            } => PagingError::ServerCap {
                entity,
                row_version,
                requested,
                returned,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Fetching at the cursor. `recheck`: a probe found rows newer than the cursor that the
    /// last answer at the cursor did not bring; this fetch must bring them.
    Normal {
        recheck: bool,
    },
    /// Asking `cursor + 1` whether anything newer exists.
    Probe {
        requested: u32,
        returned: u32,
    },
    Done,
}

/// The cursor state machine: [`CursorWalk::next_fetch`] says what to ask, and
/// [`CursorWalk::on_answer`] takes how many rows came back and their highest RowVersion.
///
/// The walk ends after an answer that brings nothing newer than the cursor and is not full.
/// When that answer holds at least `probe_min_rows` rows, one probe at `cursor + 1` follows
/// and the walk ends only if it comes back with nothing newer. The probe catches a server
/// that caps `pageSize` below what was asked: such a server answers "not full" with exactly
/// its cap of rows, all at the cursor, while newer rows exist. When the probe finds rows, the
/// cursor is asked once more; if that answer still brings nothing newer, the cap is reported
/// ([`WalkError::ServerCap`]). A smaller closing answer ends the walk at once: an idle walk
/// (the cursor at the newest row) is one call. Not detectable: a server capping below
/// `probe_min_rows`, and a capped server whose *last* RowVersion group is larger than its cap;
/// keep `page_size` within what the server honours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorWalk {
    cursor: i64,
    base: u32,
    max: u32,
    size: u32,
    probe_min_rows: u32,
    phase: Phase,
}

impl CursorWalk {
    /// A walk from `start_cursor` (inclusive); `probe_min_rows` is
    /// [`PagingOptions::probe_min_rows`].
    pub fn new(start_cursor: i64, page_size: u32, max_page_size: u32, probe_min_rows: u32) -> Self {
        let base = page_size.max(1);
        Self {
            cursor: start_cursor,
            base,
            max: max_page_size.max(base),
            size: base,
            probe_min_rows,
            phase: Phase::Normal { recheck: false },
        }
    }

    /// The cursor the next page starts from (where a checkpoint would resume).
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Stops the walk (after an error).
    pub fn abort(&mut self) {
        self.phase = Phase::Done;
    }

    /// The next call to make, `None` when the walk is over.
    pub fn next_fetch(&self) -> Option<Fetch> {
        match self.phase {
            Phase::Normal { .. } => Some(Fetch {
                cursor: self.cursor,
                page_size: self.size,
            }),
            Phase::Probe { .. } => Some(Fetch {
                cursor: self.cursor.saturating_add(1),
                page_size: self.base,
            }),
            Phase::Done => None,
        }
    }

    /// Takes the answer to [`CursorWalk::next_fetch`]: `rows` returned (parsed or not), and
    /// the highest RowVersion among them that could be read.
    pub fn on_answer(
        &mut self,
        rows: usize,
        max_row_version: Option<i64>,
    ) -> Result<Verdict, WalkError> {
        let rows = u32::try_from(rows).unwrap_or(u32::MAX);
        match self.phase {
            Phase::Done => Ok(Verdict::Skip),
            // Only rows known to be newer count: a row whose RowVersion cannot be read (a
            // malformed row, already reported) says nothing about what the cursor missed.
            Phase::Probe { .. } if max_row_version.is_none_or(|max| max <= self.cursor) => {
                self.phase = Phase::Done;
                Ok(Verdict::Skip)
            }
            Phase::Probe { .. } => {
                // Newer rows exist: ask the cursor again, which must now bring them.
                self.phase = Phase::Normal { recheck: true };
                Ok(Verdict::Skip)
            }
            Phase::Normal { recheck } => self.on_normal_answer(rows, max_row_version, recheck),
        }
    }

    fn on_normal_answer(
        &mut self,
        rows: u32,
        max_row_version: Option<i64>,
        recheck: bool,
    ) -> Result<Verdict, WalkError> {
        let from = self.cursor;
        if rows == 0 {
            self.phase = Phase::Done;
            return Ok(Verdict::Skip);
        }
        match max_row_version {
            Some(max) if max > from => {
                self.cursor = max;
                self.size = self.base;
                self.phase = Phase::Normal { recheck: false };
                return Ok(Verdict::Yield { from, next: max });
            }
            _ => {}
        }
        // Nothing newer than the cursor.
        if rows >= self.size {
            // Full: the rows sharing the cursor's RowVersion may go on past the page.
            if self.size >= self.max {
                self.phase = Phase::Done;
                return Err(WalkError::Stuck {
                    row_version: from,
                    page_size: self.size,
                });
            }
            self.size = self.size.saturating_mul(2).min(self.max);
            return Ok(Verdict::Skip);
        }
        if recheck {
            // A probe saw newer rows, yet the cursor's answer stops short of them.
            self.phase = Phase::Done;
            return Err(WalkError::ServerCap {
                row_version: from,
                requested: self.size,
                returned: rows,
            });
        }
        // Not full: all the rows at the cursor, and nothing newer. Hand them on (some may be
        // new: a previous page may have ended inside their group). Too few of them to be a
        // plausible server cap: that is the end. Else probe for a cap.
        self.phase = if rows < self.probe_min_rows {
            Phase::Done
        } else {
            Phase::Probe {
                requested: self.size,
                returned: rows,
            }
        };
        Ok(Verdict::Yield { from, next: from })
    }
}

/// One page of one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub entity: Entity,
    /// The cursor this page was fetched from.
    pub from_cursor: i64,
    /// Where the next run may start once this page is durably handled. Equal to
    /// `from_cursor` when the page brought nothing newer.
    pub next_cursor: i64,
    /// The `pageSize` asked for.
    pub page_size: u32,
    /// The rows that parsed, in the order received.
    pub records: Vec<Record>,
    /// The rows that did not parse: dead-letter them before checkpointing.
    pub rejects: Vec<RejectedRow>,
    /// The highest RowVersion on the page (rejects included), if any was readable.
    pub max_row_version: Option<i64>,
}

impl Page {
    /// Rows on the page, parsed or rejected.
    pub fn len(&self) -> usize {
        self.records.len() + self.rejects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Walker {
    client: MahakClient,
    entity: Entity,
    walk: CursorWalk,
    order_types: Option<Vec<i32>>,
}

impl Walker {
    async fn next_page(&mut self) -> Option<Result<Page, PagingError>> {
        loop {
            let fetch = self.walk.next_fetch()?;
            let mut request = RequestAllData::for_entity(self.entity, fetch.cursor)
                .with_page_size(fetch.page_size);
            if self.entity == Entity::Order {
                if let Some(types) = &self.order_types {
                    request = request.with_order_types(types.clone());
                }
            }
            let mut answer = match self.client.get_all_data(&request).await {
                Ok(answer) => answer,
                Err(e) => {
                    self.walk.abort();
                    return Some(Err(e.into()));
                }
            };
            let rows = parse_rows(self.entity, answer.take(self.entity));
            let max_row_version = rows.max_row_version();
            match self.walk.on_answer(rows.len(), max_row_version) {
                Err(e) => return Some(Err(e.into_paging(self.entity))),
                Ok(Verdict::Skip) => {
                    if let Some(next) = self.walk.next_fetch() {
                        if next.cursor == fetch.cursor && next.page_size > fetch.page_size {
                            tracing::info!(target: "mahak", entity = %self.entity,
                                row_version = fetch.cursor, page_size = next.page_size,
                                "a full page shares one RowVersion; asking for a larger page");
                        }
                    }
                }
                Ok(Verdict::Yield { from, next }) => {
                    return Some(Ok(Page {
                        entity: self.entity,
                        from_cursor: from,
                        next_cursor: next,
                        page_size: fetch.page_size,
                        records: rows.records,
                        rejects: rows.rejects,
                        max_row_version,
                    }))
                }
            }
        }
    }
}

/// The pages of `entity` from `start_cursor` (inclusive; `0` for everything) until a call
/// brings nothing newer. The stream ends after the first error.
pub fn pages(
    client: MahakClient,
    entity: Entity,
    start_cursor: i64,
    options: &PagingOptions,
) -> impl Stream<Item = Result<Page, PagingError>> + Send + 'static {
    let walker = Walker {
        client,
        entity,
        walk: CursorWalk::new(
            start_cursor,
            options.page_size,
            options.max_page_size,
            options.probe_min_rows,
        ),
        order_types: options.order_types.clone(),
    };
    futures::stream::unfold(walker, |mut walker| async move {
        let item = walker.next_page().await?;
        Some((item, walker))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server over sorted RowVersions that honours page sizes up to `cap`.
    fn serve(rvs: &[i64], fetch: Fetch, cap: u32) -> Vec<i64> {
        rvs.iter()
            .copied()
            .filter(|rv| *rv >= fetch.cursor)
            .take(fetch.page_size.min(cap) as usize)
            .collect()
    }

    /// Walks `rvs` from `start` with the default probe threshold; returns the verdicts, the
    /// error and the calls made.
    fn walk_from(
        rvs: &[i64],
        start: i64,
        page: u32,
        max: u32,
        cap: u32,
    ) -> (Vec<Verdict>, Option<WalkError>, usize) {
        let mut walk = CursorWalk::new(start, page, max, PROBE_MIN_ROWS);
        let mut verdicts = Vec::new();
        let mut calls = 0;
        while let Some(fetch) = walk.next_fetch() {
            calls += 1;
            assert!(calls < 1000, "walk does not terminate");
            let rows = serve(rvs, fetch, cap);
            match walk.on_answer(rows.len(), rows.iter().copied().max()) {
                Ok(v) => verdicts.push(v),
                Err(e) => return (verdicts, Some(e), calls),
            }
        }
        (verdicts, None, calls)
    }

    fn run(rvs: &[i64], page: u32, max: u32, cap: u32) -> (Vec<Verdict>, Option<WalkError>, usize) {
        walk_from(rvs, 0, page, max, cap)
    }

    #[test]
    fn simple_walk_ends_on_nothing_newer() {
        let rvs: Vec<i64> = (1..=25).collect();
        let (v, e, calls) = run(&rvs, 10, 100, 100);
        assert_eq!(e, None);
        assert_eq!(
            v,
            vec![
                Verdict::Yield { from: 0, next: 10 },
                Verdict::Yield { from: 10, next: 19 },
                Verdict::Yield { from: 19, next: 25 },
                Verdict::Yield { from: 25, next: 25 },
            ]
        );
        assert_eq!(
            calls, 4,
            "four pages; the last holds one row, too few to be a server cap: no probe"
        );
    }

    #[test]
    fn an_idle_walk_is_one_call() {
        // The cursor is at the newest row (where the last run checkpointed): the answer is
        // that one row, and the walk ends there.
        let rvs: Vec<i64> = (1..=25).collect();
        let (v, e, calls) = walk_from(&rvs, 25, 500, 8000, 8000);
        assert_eq!(e, None);
        assert_eq!(v, vec![Verdict::Yield { from: 25, next: 25 }]);
        assert_eq!(calls, 1);
        // A few rows sharing the newest RowVersion: still one call.
        let mut rvs: Vec<i64> = (1..=25).collect();
        rvs.extend([26; 5]);
        let (_, e, calls) = walk_from(&rvs, 26, 500, 8000, 8000);
        assert_eq!((e, calls), (None, 1));
    }

    #[test]
    fn a_large_closing_answer_is_probed_once() {
        // The newest RowVersion is shared by 30 rows: a closing answer that large could be
        // a server's cap, so the walk asks `cursor + 1` once before ending.
        let mut rvs: Vec<i64> = (1..=5).collect();
        rvs.extend([6; 30]);
        let (v, e, calls) = walk_from(&rvs, 6, 500, 8000, 8000);
        assert_eq!(e, None);
        assert_eq!(v, vec![Verdict::Yield { from: 6, next: 6 }, Verdict::Skip]);
        assert_eq!(calls, 2, "the closing answer and the probe");
    }

    #[test]
    fn shared_row_version_grows_the_page() {
        let mut rvs = vec![1, 2];
        rvs.extend(std::iter::repeat_n(3, 25));
        rvs.push(4);
        let (v, e, _) = run(&rvs, 10, 100, 100);
        assert_eq!(e, None);
        assert!(v.contains(&Verdict::Yield { from: 3, next: 4 }), "{v:?}");
    }

    #[test]
    fn stuck_when_the_largest_page_is_too_small() {
        let rvs = vec![5; 50];
        let (_, e, _) = run(&rvs, 10, 40, 100);
        assert_eq!(
            e,
            Some(WalkError::Stuck {
                row_version: 5,
                page_size: 40
            })
        );
    }

    #[test]
    fn a_silent_server_cap_is_detected() {
        // Grown beyond the cap.
        let mut rvs = vec![5; 50];
        rvs.push(6);
        let (_, e, _) = run(&rvs, 20, 1000, 20);
        assert_eq!(
            e,
            Some(WalkError::ServerCap {
                row_version: 5,
                requested: 40,
                returned: 20
            })
        );
        // Asked more than the cap from the start.
        let (_, e, _) = run(&rvs, 100, 1000, 20);
        assert_eq!(
            e,
            Some(WalkError::ServerCap {
                row_version: 5,
                requested: 100,
                returned: 20
            })
        );
        // A larger cap, the group further along.
        let mut rvs: Vec<i64> = (1..=10).collect();
        rvs.extend([11; 120]);
        rvs.extend([12, 13]);
        let (_, e, _) = run(&rvs, 500, 8000, 100);
        assert_eq!(
            e,
            Some(WalkError::ServerCap {
                row_version: 11,
                requested: 500,
                returned: 100
            })
        );
    }

    #[test]
    fn a_server_cap_below_the_probe_threshold_goes_undetected() {
        // The documented limit: a cap of 10 rows (< PROBE_MIN_ROWS) cut inside a group of 50
        // looks like the end, and the walk stops short of the newer row without an error.
        let mut rvs = vec![5; 50];
        rvs.push(6);
        let (v, e, calls) = walk_from(&rvs, 5, 100, 1000, 10);
        assert_eq!(e, None);
        assert_eq!(v, vec![Verdict::Yield { from: 5, next: 5 }]);
        assert_eq!(calls, 1);
        // With the threshold at the cap, the same server is caught.
        let mut walk = CursorWalk::new(5, 100, 1000, 10);
        let mut error = None;
        while let Some(fetch) = walk.next_fetch() {
            let rows = serve(&rvs, fetch, 10);
            if let Err(e) = walk.on_answer(rows.len(), rows.iter().copied().max()) {
                error = Some(e);
            }
        }
        assert_eq!(
            error,
            Some(WalkError::ServerCap {
                row_version: 5,
                requested: 100,
                returned: 10
            })
        );
    }

    #[test]
    fn exactly_a_page_at_the_end_is_not_an_error() {
        let rvs = vec![7; 20];
        let (v, e, _) = run(&rvs, 20, 1000, 1000);
        assert_eq!(e, None, "{v:?}");
    }
}
