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

#[cfg(test)]
mod tests {
    use super::*;

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
