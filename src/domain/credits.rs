//! Credit buckets and the rules that move credits between them (DESIGN.md §2).
//!
//! A user has three buckets: the month's free allowance, the subscription period's
//! allowance, and purchased credits. A paid operation reserves its cost (a hold) taking
//! from the buckets in the spend order subscription → purchased → free; the result is
//! watermarked exactly when part of the cost came from the free allowance. A commit keeps the
//! credits spent, a release puts them back into the buckets they came from.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    #[error("not enough credits: {needed} needed, {available} available")]
    InsufficientCredits { needed: i32, available: i32 },
    #[error("a credit amount must be positive")]
    InvalidAmount,
}

/// Credits per bucket; never negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buckets {
    pub free: i32,
    pub subscription: i32,
    pub purchased: i32,
}

impl Buckets {
    pub fn total(&self) -> i32 {
        self.free + self.subscription + self.purchased
    }

    pub fn apply(&self, delta: &Split, sign: i32) -> Buckets {
        Buckets {
            free: self.free + sign * delta.free,
            subscription: self.subscription + sign * delta.subscription,
            purchased: self.purchased + sign * delta.purchased,
        }
    }
}

/// How a cost is divided between the buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub free: i32,
    pub subscription: i32,
    pub purchased: i32,
}

impl Split {
    pub fn total(&self) -> i32 {
        self.free + self.subscription + self.purchased
    }

    /// A result is watermarked exactly when part of its cost came from the free allowance.
    pub fn watermarked(&self) -> bool {
        self.free > 0
    }
}

/// Divides `cost` between the buckets in the spend order subscription → purchased → free.
pub fn split_cost(cost: i32, buckets: &Buckets) -> Result<Split, CreditError> {
    if cost <= 0 {
        return Err(CreditError::InvalidAmount);
    }
    let available = buckets.total();
    if available < cost {
        return Err(CreditError::InsufficientCredits { needed: cost, available });
    }
    let mut left = cost;
    let subscription = left.min(buckets.subscription.max(0));
    left -= subscription;
    let purchased = left.min(buckets.purchased.max(0));
    left -= purchased;
    let free = left.min(buckets.free.max(0));
    left -= free;
    debug_assert_eq!(left, 0, "available >= cost, so the buckets cover it");
    Ok(Split { free, subscription, purchased })
}

/// The bucket state that decides when allowances reset or expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketState {
    pub buckets: Buckets,
    /// First day of the month the free allowance belongs to (in the configured timezone).
    pub free_month: Option<NaiveDate>,
    /// End of the subscription period the subscription allowance belongs to.
    pub sub_period_end: Option<DateTime<Utc>>,
}

/// One ledger-worthy change made by [`refresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketChange {
    /// The previous month's unused free allowance expires.
    ExpireFree { month: NaiveDate, amount: i32 },
    /// The new month's free allowance is granted.
    GrantFree { month: NaiveDate, amount: i32 },
    /// The ended subscription period's unused allowance expires.
    ExpireSubscription { period_end: DateTime<Utc>, amount: i32 },
}

/// What must change so the buckets are current at `now`: a new calendar month (in `tz`)
/// replaces the free allowance; an ended subscription period drops its allowance.
pub fn refresh(state: &BucketState, now: DateTime<Utc>, tz: Tz, free_allowance: i32) -> Vec<BucketChange> {
    let mut changes = Vec::new();
    let month = month_start(now, tz);
    if state.free_month != Some(month) {
        if let Some(old) = state.free_month
            && state.buckets.free > 0
        {
            changes.push(BucketChange::ExpireFree { month: old, amount: state.buckets.free });
        }
        if free_allowance > 0 {
            changes.push(BucketChange::GrantFree { month, amount: free_allowance });
        }
    }
    if let Some(end) = state.sub_period_end
        && end <= now
        && state.buckets.subscription > 0
    {
        changes.push(BucketChange::ExpireSubscription { period_end: end, amount: state.buckets.subscription });
    }
    changes
}

/// True when [`refresh`] would change something.
pub fn needs_refresh(state: &BucketState, now: DateTime<Utc>, tz: Tz) -> bool {
    state.free_month != Some(month_start(now, tz))
        || matches!(state.sub_period_end, Some(end) if end <= now && state.buckets.subscription > 0)
}

/// First day of the calendar month containing `now` in `tz`.
pub fn month_start(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    let local = now.with_timezone(&tz).date_naive();
    NaiveDate::from_ymd_opt(local.year(), local.month(), 1).expect("day 1 exists in every month")
}

/// The instant (UTC) the month after `month` begins in `tz`: when the free allowance resets.
pub fn next_month_start(month: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let (year, next) = if month.month() == 12 { (month.year() + 1, 1) } else { (month.year(), month.month() + 1) };
    let first = NaiveDate::from_ymd_opt(year, next, 1).expect("day 1 exists in every month");
    let midnight = first.and_hms_opt(0, 0, 0).expect("midnight exists");
    // Midnight can be ambiguous or skipped around DST changes; take the earliest valid instant.
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&midnight)),
    }
}

/// `YYYY-MM`, as used in idempotency keys.
pub fn month_key(month: NaiveDate) -> String {
    format!("{:04}-{:02}", month.year(), month.month())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Moscow;
    use proptest::prelude::*;

    fn b(subscription: i32, purchased: i32, free: i32) -> Buckets {
        Buckets { free, subscription, purchased }
    }

    #[test]
    fn spend_order_and_watermark_follow_the_table() {
        // (buckets sub/purchased/free, cost) -> (split sub/purchased/free, watermarked)
        let cases = [
            (b(0, 0, 10), 2, Some((0, 0, 2)), true),
            (b(50, 0, 10), 2, Some((2, 0, 0)), false),
            (b(1, 0, 10), 2, Some((1, 0, 1)), true),
            (b(1, 1, 10), 2, Some((1, 1, 0)), false),
            (b(0, 100, 10), 2, Some((0, 2, 0)), false),
            (b(0, 1, 10), 2, Some((0, 1, 1)), true),
            (b(3, 5, 0), 8, Some((3, 5, 0)), false),
            (b(0, 0, 1), 2, None, false),
            (b(0, 0, 0), 1, None, false),
            (b(1, 0, 0), 1, Some((1, 0, 0)), false),
        ];
        for (buckets, cost, expected, watermark) in cases {
            let got = split_cost(cost, &buckets);
            match expected {
                Some((s, p, f)) => {
                    let split = got.unwrap_or_else(|e| panic!("{buckets:?} cost {cost}: {e}"));
                    assert_eq!(split, Split { subscription: s, purchased: p, free: f }, "{buckets:?} cost {cost}");
                    assert_eq!(split.watermarked(), watermark, "{buckets:?} cost {cost}");
                }
                None => assert_eq!(
                    got,
                    Err(CreditError::InsufficientCredits { needed: cost, available: buckets.total() }),
                    "{buckets:?} cost {cost}"
                ),
            }
        }
    }

    #[test]
    fn non_positive_costs_are_rejected() {
        assert_eq!(split_cost(0, &b(1, 1, 1)), Err(CreditError::InvalidAmount));
        assert_eq!(split_cost(-3, &b(1, 1, 1)), Err(CreditError::InvalidAmount));
    }

    #[test]
    fn the_free_allowance_resets_at_moscow_midnight_on_the_first_not_utc_midnight() {
        // 2026-11-30 21:30 UTC is already 2026-12-01 00:30 in Moscow (UTC+3).
        let before_moscow_midnight = Utc.with_ymd_and_hms(2026, 11, 30, 20, 59, 59).unwrap();
        let after_moscow_midnight = Utc.with_ymd_and_hms(2026, 11, 30, 21, 0, 0).unwrap();
        let nov = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let dec = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(month_start(before_moscow_midnight, Moscow), nov);
        assert_eq!(month_start(after_moscow_midnight, Moscow), dec);
        assert_eq!(next_month_start(nov, Moscow), after_moscow_midnight);

        let state = BucketState { buckets: b(0, 0, 4), free_month: Some(nov), sub_period_end: None };
        assert!(refresh(&state, before_moscow_midnight, Moscow, 10).is_empty(), "still November in Moscow");
        assert_eq!(
            refresh(&state, after_moscow_midnight, Moscow, 10),
            vec![
                BucketChange::ExpireFree { month: nov, amount: 4 },
                BucketChange::GrantFree { month: dec, amount: 10 }
            ]
        );
        // At UTC midnight of Dec 1 nothing new happens any more for a December state.
        let december = BucketState { buckets: b(0, 0, 10), free_month: Some(dec), sub_period_end: None };
        let utc_midnight = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        assert!(refresh(&december, utc_midnight, Moscow, 10).is_empty());
    }

    #[test]
    fn a_new_user_gets_the_month_allowance_and_nothing_expires() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let state = BucketState { buckets: Buckets::default(), free_month: None, sub_period_end: None };
        assert_eq!(
            refresh(&state, now, Moscow, 10),
            vec![BucketChange::GrantFree { month: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), amount: 10 }]
        );
    }

    #[test]
    fn an_ended_subscription_period_expires_its_allowance() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let month = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let ended = now - chrono::Duration::seconds(1);
        let state = BucketState { buckets: b(7, 0, 10), free_month: Some(month), sub_period_end: Some(ended) };
        assert_eq!(
            refresh(&state, now, Moscow, 10),
            vec![BucketChange::ExpireSubscription { period_end: ended, amount: 7 }]
        );
        let running = BucketState { sub_period_end: Some(now + chrono::Duration::days(1)), ..state };
        assert!(refresh(&running, now, Moscow, 10).is_empty());
        assert!(!needs_refresh(&running, now, Moscow));
    }

    #[test]
    fn next_month_start_wraps_the_year() {
        let dec = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(next_month_start(dec, Moscow), Utc.with_ymd_and_hms(2026, 12, 31, 21, 0, 0).unwrap());
        assert_eq!(month_key(dec), "2026-12");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Reserve(i32),
        Commit(usize),
        Release(usize),
        Grant(i32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1..6i32).prop_map(Op::Reserve),
            (0..8usize).prop_map(Op::Commit),
            (0..8usize).prop_map(Op::Release),
            (1..120i32).prop_map(Op::Grant),
        ]
    }

    proptest! {
        /// No sequence of reserves, commits, releases and grants makes a bucket negative,
        /// settles a hold twice, or loses or creates a credit.
        #[test]
        fn no_sequence_makes_a_balance_negative_or_double_charges(
            start in (0..20i32, 0..20i32, 0..20i32),
            ops in proptest::collection::vec(op(), 0..60),
        ) {
            let mut buckets = b(start.0, start.1, start.2);
            let mut granted = buckets.total();
            let mut holds: Vec<(Split, bool)> = Vec::new();
            let mut spent = 0;
            for op in ops {
                match op {
                    Op::Reserve(cost) => match split_cost(cost, &buckets) {
                        Ok(split) => {
                            prop_assert_eq!(split.total(), cost);
                            buckets = buckets.apply(&split, -1);
                            holds.push((split, false));
                        }
                        Err(CreditError::InsufficientCredits { available, .. }) => prop_assert!(available < cost),
                        Err(e) => prop_assert!(false, "unexpected {e}"),
                    },
                    Op::Commit(i) => if let Some(h) = holds.get_mut(i).filter(|h| !h.1) {
                        h.1 = true;
                        spent += h.0.total();
                    },
                    Op::Release(i) => if let Some(h) = holds.get_mut(i).filter(|h| !h.1) {
                        h.1 = true;
                        buckets = buckets.apply(&h.0, 1);
                    },
                    Op::Grant(n) => { buckets.purchased += n; granted += n; }
                }
                prop_assert!(buckets.free >= 0 && buckets.subscription >= 0 && buckets.purchased >= 0, "{buckets:?}");
                let held: i32 = holds.iter().filter(|h| !h.1).map(|h| h.0.total()).sum();
                prop_assert_eq!(buckets.total() + held + spent, granted, "credits are conserved");
            }
        }
    }
}
