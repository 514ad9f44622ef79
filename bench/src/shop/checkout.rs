//! Item 3: concurrent customers adding to the cart, checking out and paying on the sandbox
//! gateway for a fixed time; orders/s, latency of the whole add + checkout + pay, and the
//! database's word on overselling, including a scarce variant every customer races for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use hdrhistogram::Histogram;
use sea_orm::sqlx::{self, PgPool};
use tokio::sync::Mutex;

use super::client::{self, Api, Placed};
use super::proc::ServerProc;

/// startPayment allows 20 calls per customer per hour: a customer is replaced after 18.
const PAYMENTS_PER_CUSTOMER: u32 = 18;
/// Every this many orders a customer tries the scarce variant first.
const SCARCE_EVERY: u64 = 8;

pub struct Options {
    pub customers: usize,
    pub duration: Duration,
    /// Variants with stock to spare (ids).
    pub plentiful: Vec<i64>,
    pub scarce_variant: i64,
    pub scarce_stock: i64,
}

#[derive(Default)]
struct Tally {
    /// Microseconds of add + checkout + pay of each paid order.
    latency: Option<Histogram<u64>>,
    paid: u64,
    scarce_paid: u64,
    scarce_refused: u64,
    sign_ins: u64,
}

pub struct Outcome {
    pub customers: usize,
    pub elapsed: Duration,
    pub paid: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub sign_ins: u64,
    pub scarce_stock: i64,
    pub scarce_paid: u64,
    pub scarce_refused: u64,
    /// Units of the scarce variant in orders not cancelled, as the database has them.
    pub scarce_units_in_orders: i64,
    pub paid_in_database: i64,
    pub rss_peak_kb: u64,
    pub rss_mean_kb: u64,
}

pub async fn run(
    server: &ServerProc,
    pool: &PgPool,
    options: &Options,
    phones: &Arc<AtomicU64>,
) -> anyhow::Result<Outcome> {
    ensure!(!options.plentiful.is_empty(), "no plentiful variant");
    let api = Api::new(&server.base)?;
    let tally = Arc::new(Mutex::new(Tally {
        latency: Some(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        ..Tally::default()
    }));
    let pid = server.pid()?;
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while sampling.load(Ordering::Relaxed) {
                samples.push(super::proc::rss_kb(pid)?);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            anyhow::Ok(samples)
        })
    };

    let started = Instant::now();
    let deadline = started + options.duration;
    let mut workers = Vec::new();
    for index in 0..options.customers {
        let api = api.clone();
        let tally = tally.clone();
        let phones = phones.clone();
        let plentiful = options.plentiful.clone();
        let scarce = options.scarce_variant;
        // Futures joined below, not spawned tasks: they borrow `server` (its log tail).
        workers.push(async move {
            let mut customer: Option<client::Customer> = None;
            let mut turn = index as u64;
            while Instant::now() < deadline {
                let needs_new = customer
                    .as_ref()
                    .is_none_or(|c| c.payments >= PAYMENTS_PER_CUSTOMER);
                if needs_new {
                    let n = phones.fetch_add(1, Ordering::Relaxed);
                    customer = Some(
                        client::sign_in(&api, server, n)
                            .await
                            .with_context(|| format!("customer {n} signing in"))?,
                    );
                    tally.lock().await.sign_ins += 1;
                    continue;
                }
                let Some(current) = customer.as_mut() else {
                    continue;
                };
                turn += 1;
                let racing = turn % SCARCE_EVERY == 0;
                let variant = if racing {
                    scarce
                } else {
                    plentiful[(turn as usize * 7919) % plentiful.len()]
                };
                let began = Instant::now();
                let order = match client::place_order(&api, current, variant).await? {
                    Placed::Order { number, .. } => number,
                    Placed::OutOfStock if racing => {
                        tally.lock().await.scarce_refused += 1;
                        continue;
                    }
                    Placed::OutOfStock => {
                        anyhow::bail!("variant {variant}, stocked for the whole run, refused")
                    }
                };
                client::pay(&api, current, &order).await?;
                let took = began.elapsed();
                let mut tally = tally.lock().await;
                tally.paid += 1;
                if racing {
                    tally.scarce_paid += 1;
                }
                if let Some(latency) = tally.latency.as_mut() {
                    latency.record(took.as_micros().max(1) as u64)?;
                }
            }
            anyhow::Ok(())
        });
    }
    let results = futures::future::join_all(workers).await;
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.await??;
    for result in results {
        result?;
    }

    let tally = std::mem::take(&mut *tally.lock().await);
    let latency = tally.latency.context("no histogram")?;
    ensure!(tally.paid > 0, "no order was paid");

    // The database's word: no variant has more units held by open orders than Mahak's stock,
    // no stock row is negative, and the scarce variant was not sold beyond its stock.
    let (negative,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM variant_stock WHERE quantity < 0")
            .fetch_one(pool)
            .await?;
    ensure!(negative == 0, "{negative} stock rows are negative");
    let (oversold,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM variants v \
         WHERE (SELECT coalesce(sum(r.quantity), 0) FROM stock_reservations r \
                WHERE r.variant_id = v.id AND r.released_at IS NULL) \
             > (SELECT coalesce(sum(s.quantity), 0) FROM variant_stock s \
                WHERE s.variant_mahak_id = v.mahak_id)",
    )
    .fetch_one(pool)
    .await?;
    ensure!(
        oversold == 0,
        "{oversold} variants hold more reserved units than stock"
    );
    let (scarce_units,): (i64,) = sqlx::query_as(
        "SELECT coalesce(sum(l.quantity), 0)::bigint FROM order_lines l \
         JOIN orders o ON o.id = l.order_id \
         WHERE l.variant_id = $1 AND o.status NOT IN ('cancelled', 'refunded')",
    )
    .bind(options.scarce_variant)
    .fetch_one(pool)
    .await?;
    ensure!(
        scarce_units <= options.scarce_stock,
        "the scarce variant was oversold: {scarce_units} units in orders for {} in stock",
        options.scarce_stock
    );
    let (paid_in_database,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM orders WHERE status = 'paid'")
            .fetch_one(pool)
            .await?;
    ensure!(
        paid_in_database == tally.paid as i64,
        "the bench paid {} orders, the database has {paid_in_database} paid",
        tally.paid
    );

    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    Ok(Outcome {
        customers: options.customers,
        elapsed,
        paid: tally.paid,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: latency.max() as f64 / 1000.0,
        sign_ins: tally.sign_ins,
        scarce_stock: options.scarce_stock,
        scarce_paid: tally.scarce_paid,
        scarce_refused: tally.scarce_refused,
        scarce_units_in_orders: scarce_units,
        paid_in_database,
        rss_peak_kb: samples.iter().copied().max().unwrap_or(0),
        rss_mean_kb: samples.iter().sum::<u64>() / samples.len().max(1) as u64,
    })
}
