//! The product catalogue (packs and subscriptions) and operation prices, from config.

use serde::{Deserialize, Serialize};

use crate::domain::i18n::Lang;

/// What buying a product gives: credits once (a pack) or a renewing plan (a subscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
#[ts(export_to = "ProductKind.ts")]
pub enum ProductKind {
    Pack,
    Subscription,
}

/// The only subscription period Telegram Stars supports (`subscription_period` = 2592000 s).
pub const STARS_PERIOD_DAYS: i64 = 30;

/// A product users can buy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub kind: ProductKind,
    pub credits: i32,
    pub price_kopecks: i64,
    pub price_stars: i64,
    pub period_days: Option<i64>,
    pub title_ru: String,
    pub title_en: String,
    pub order: u32,
}

impl Product {
    pub fn title(&self, lang: Lang) -> &str {
        lang.pick(&self.title_ru, &self.title_en)
    }
}

/// Prices of paid operations, in credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export_to = "Me.ts")]
pub struct Prices {
    pub tryon: i32,
    pub chat_message: i32,
    pub edit_generation: i32,
}

/// All products, sorted for display.
#[derive(Debug, Clone)]
pub struct Catalogue {
    products: Vec<Product>,
    pub prices: Prices,
}

impl Catalogue {
    /// The catalogue of `products` (shown sorted by `order`, then id) with operation `prices`.
    pub fn new(mut products: Vec<Product>, prices: Prices) -> Self {
        products.sort_by_key(|p| (p.order, p.id.clone()));
        Catalogue { products, prices }
    }

    pub fn products(&self) -> &[Product] {
        &self.products
    }

    pub fn get(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }
}

/// Kopecks as the decimal string YooKassa and the UI use: 19900 → "199.00".
pub fn format_rub(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "-" } else { "" };
    let abs = kopecks.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A price less a promo discount of `percent` (none: the price), rounded half up to a kopeck and
/// never below one rouble (YooKassa's minimum).
pub fn discounted_kopecks(price_kopecks: i64, percent: Option<i32>) -> i64 {
    match percent {
        Some(p) if (1..100).contains(&p) => {
            let left = i64::from(100 - p);
            ((price_kopecks * left + 50) / 100).max(100)
        }
        _ => price_kopecks,
    }
}

/// The inverse of [`format_rub`] for well-formed amounts ("199.00", "199.5", "199"); no floats.
pub fn parse_rub(value: &str) -> Option<i64> {
    let value = value.trim();
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (whole, frac) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    let total = whole.checked_mul(100)?.checked_add(frac)?;
    Some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roubles_format_and_parse_without_floats() {
        for (kopecks, text) in [(19900, "199.00"), (29950, "299.50"), (5, "0.05"), (0, "0.00"), (-19900, "-199.00")] {
            assert_eq!(format_rub(kopecks), text);
            assert_eq!(parse_rub(text), Some(kopecks), "{text}");
        }
        assert_eq!(parse_rub("199"), Some(19900));
        assert_eq!(parse_rub("199.5"), Some(19950));
        for bad in ["", "1.234", "abc", "1,00", ".50", "1e3"] {
            assert_eq!(parse_rub(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_discount_rounds_half_up_to_a_kopeck_and_keeps_a_rouble() {
        assert_eq!(discounted_kopecks(19900, None), 19900);
        assert_eq!(discounted_kopecks(19900, Some(20)), 15920);
        assert_eq!(discounted_kopecks(19950, Some(33)), 13367); // 13366.5 → up
        assert_eq!(discounted_kopecks(100, Some(90)), 100);
        assert_eq!(discounted_kopecks(19900, Some(0)), 19900);
    }
}
