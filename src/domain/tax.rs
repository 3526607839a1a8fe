//! Money arithmetic for the revenue report (DESIGN §2): everything in kopecks (integers), rates
//! in basis points, rounding half up. A payment's gross splits into the provider's commission,
//! the НПД tax on the gross, and what is left (net).

use serde::Serialize;

/// How one payment's money divides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    pub gross_kopecks: i64,
    pub commission_kopecks: i64,
    pub tax_kopecks: i64,
    pub net_kopecks: i64,
}

/// `amount × bp / 10000`, rounded half up (amounts are never negative here).
pub fn bp_half_up(amount: i64, bp: i64) -> i64 {
    let product = i128::from(amount) * i128::from(bp);
    ((product + 5_000) / 10_000) as i64
}

/// A YooKassa payment: commission and tax are both taken from the gross.
pub fn yookassa(gross_kopecks: i64, commission_bp: i64, tax_bp: i64) -> Breakdown {
    let commission = bp_half_up(gross_kopecks, commission_bp);
    let tax = bp_half_up(gross_kopecks, tax_bp);
    Breakdown {
        gross_kopecks,
        commission_kopecks: commission,
        tax_kopecks: tax,
        net_kopecks: gross_kopecks - commission - tax,
    }
}

/// A Telegram Stars payment, valued at the configured kopecks per star.
pub fn stars(stars: i64, kopecks_per_star: i64, commission_bp: i64, tax_bp: i64) -> Breakdown {
    yookassa(stars * kopecks_per_star, commission_bp, tax_bp)
}

/// True when the year's income so far is at or above `warn_bp` of the НПД cap.
pub fn near_npd_cap(year_income_kopecks: i64, cap_kopecks: i64, warn_bp: i64) -> bool {
    i128::from(year_income_kopecks) * 10_000 >= i128::from(cap_kopecks) * i128::from(warn_bp)
}

/// The year's income as a share of the cap, in basis points (rounded down).
pub fn cap_share_bp(year_income_kopecks: i64, cap_kopecks: i64) -> i64 {
    if cap_kopecks <= 0 {
        return 10_000;
    }
    (i128::from(year_income_kopecks.max(0)) * 10_000 / i128::from(cap_kopecks)) as i64
}

/// The warning to send now, if any: the highest of `thresholds_bp` the income reached that is
/// above the one already sent (`warned_bp`). Crossing both at once sends only the higher one.
pub fn cap_warning_due(
    year_income_kopecks: i64,
    cap_kopecks: i64,
    warned_bp: i64,
    thresholds_bp: &[i64],
) -> Option<i64> {
    thresholds_bp.iter().copied().filter(|&t| t > warned_bp && near_npd_cap(year_income_kopecks, cap_kopecks, t)).max()
}

/// A rouble sale of `price_kopecks` keeps the year's income within the cap.
pub fn sale_within_cap(year_income_kopecks: i64, price_kopecks: i64, cap_kopecks: i64) -> bool {
    i128::from(year_income_kopecks) + i128::from(price_kopecks) <= i128::from(cap_kopecks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_warns_once_per_threshold_and_stops_sales_above_it() {
        let cap = 240_000_000;
        let at = [8000, 9500];
        assert_eq!(cap_warning_due(191_999_999, cap, 0, &at), None);
        assert_eq!(cap_warning_due(192_000_000, cap, 0, &at), Some(8000));
        assert_eq!(cap_warning_due(200_000_000, cap, 8000, &at), None, "80 % was sent already");
        assert_eq!(cap_warning_due(228_000_000, cap, 8000, &at), Some(9500));
        assert_eq!(cap_warning_due(239_000_000, cap, 9500, &at), None);
        assert_eq!(cap_warning_due(230_000_000, cap, 0, &at), Some(9500), "both crossed: the higher one");
        assert_eq!(cap_share_bp(192_000_000, cap), 8000);
        assert_eq!(cap_share_bp(1, cap), 0);
        assert!(sale_within_cap(239_980_100, 19_900, cap));
        assert!(!sale_within_cap(239_980_101, 19_900, cap));
    }

    #[test]
    fn the_receipt_fee_is_part_of_the_commission() {
        let paid = yookassa(19900, 280 + 80, 400);
        assert_eq!((paid.commission_kopecks, paid.tax_kopecks, paid.net_kopecks), (716, 796, 18388));
    }

    #[test]
    fn rounds_half_up_in_kopecks() {
        assert_eq!(bp_half_up(19900, 280), 557); // 557.2
        assert_eq!(bp_half_up(12500, 400), 500);
        assert_eq!(bp_half_up(125, 400), 5);
        assert_eq!(bp_half_up(12, 4167), 5); // 5.0004
        assert_eq!(bp_half_up(50, 100), 1); // 0.5 → 1
        assert_eq!(bp_half_up(49, 100), 0); // 0.49 → 0
    }

    #[test]
    fn a_pack_payment_splits_exactly() {
        let b = yookassa(19900, 280, 400);
        assert_eq!(
            b,
            Breakdown { gross_kopecks: 19900, commission_kopecks: 557, tax_kopecks: 796, net_kopecks: 18547 }
        );
        assert_eq!(b.commission_kopecks + b.tax_kopecks + b.net_kopecks, b.gross_kopecks);
        assert_eq!(stars(130, 150, 0, 400).gross_kopecks, 19500);
    }

    #[test]
    fn every_price_matches_hand_computed_kopecks() {
        // 2.8 % commission and 4 % НПД of the gross, half up:
        // 199 ₽: 557.2 → 557, 796;  299 ₽: 837.2 → 837, 1196;  499 ₽: 1397.2 → 1397, 1996;
        // 899 ₽: 2517.2 → 2517, 3596.
        for (gross, commission, tax) in
            [(19900, 557, 796), (29900, 837, 1196), (49900, 1397, 1996), (89900, 2517, 3596)]
        {
            let b = yookassa(gross, 280, 400);
            assert_eq!((b.commission_kopecks, b.tax_kopecks), (commission, tax), "{gross}");
            assert_eq!(b.net_kopecks, gross - commission - tax);
        }
    }

    #[test]
    fn warns_near_the_cap() {
        assert!(!near_npd_cap(191_999_999, 240_000_000, 8000));
        assert!(near_npd_cap(192_000_000, 240_000_000, 8000));
    }

    #[test]
    fn the_parts_always_sum_to_the_gross() {
        for gross in (1..200_000).step_by(7919) {
            for (c, t) in [(280, 400), (350, 600), (0, 400), (999, 1)] {
                let b = yookassa(gross, c, t);
                assert_eq!(b.commission_kopecks + b.tax_kopecks + b.net_kopecks, gross);
                assert!(b.commission_kopecks >= 0 && b.tax_kopecks >= 0);
            }
        }
    }
}
