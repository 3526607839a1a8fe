//! The НПД yearly income cap (issue 17). A self-employed seller may earn at most the cap in a
//! calendar year (2,400,000 ₽ by default, `tax.npd_annual_cap_kopecks`): as the year's income
//! (succeeded payments, refunds excluded) reaches `npd_warn_at_bp` and `npd_warn_high_bp` of
//! it, the operators hear from the bot, once each; a rouble sale that would take the income above
//! the cap is refused (`rub_sales_paused`) until an operator raises the cap or resets the count
//! (`POST /api/admin/npd-cap`, through `PaymentMsg::SetNpdCap`). Only with
//! `tax.receipt_mode = "npd"`; an ИП (`"54fz"`) has no such cap.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::Serialize;

use super::{PaymentActor, PaymentError};
use crate::config::{ReceiptMode, Settings};
use crate::db::legal as legal_db;
use crate::db::payments as pay_db;
use crate::domain::i18n;
use crate::domain::pricing::format_rub;
use crate::domain::tax;

/// Where the year stands against the cap (`npd_cap` of the revenue report).
#[derive(Debug, Clone, Serialize)]
pub struct NpdCap {
    /// `npd` or `54fz`; the cap applies only to `npd`.
    pub mode: &'static str,
    pub year: i32,
    pub cap_rub: String,
    pub income_rub: String,
    /// The income as a percentage of the cap (two decimals).
    pub percent: f64,
    /// No rouble sale is possible now (the cheapest would go above the cap).
    pub stopped: bool,
    /// The count was reset by an operator at this time (else it runs from the year's start).
    pub counted_from: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub cap_kopecks: i64,
    #[serde(skip)]
    pub income_kopecks: i64,
    #[serde(skip)]
    pub warned_bp: i64,
}

/// The calendar year of `now` in `tz` and its first moment.
fn year_of(tz: chrono_tz::Tz, now: DateTime<Utc>) -> Result<(i32, DateTime<Utc>), PaymentError> {
    let year = now.with_timezone(&tz).year();
    let start = tz
        .with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .earliest()
        .ok_or_else(|| PaymentError::Refused("no start of the year in the configured timezone".into()))?;
    Ok((year, start.to_utc()))
}

/// The year's income against the cap (a read: the report and every rouble sale use it).
pub async fn status(
    pool: &sqlx::PgPool,
    settings: &Settings,
    tz: chrono_tz::Tz,
    cheapest_kopecks: i64,
) -> Result<NpdCap, PaymentError> {
    let t = &settings.file.tax;
    let (year, year_start) = year_of(tz, Utc::now())?;
    let state = legal_db::cap_year(pool, year).await?;
    let from = state.counted_from.map_or(year_start, |reset| reset.max(year_start));
    let income = pay_db::year_income(pool, from).await?;
    let cap = state.cap_kopecks.unwrap_or(t.npd_annual_cap_kopecks);
    let npd = t.receipt_mode == ReceiptMode::Npd;
    Ok(NpdCap {
        mode: if npd { "npd" } else { "54fz" },
        year,
        cap_rub: format_rub(cap),
        income_rub: format_rub(income),
        percent: tax::cap_share_bp(income, cap) as f64 / 100.0,
        stopped: npd && t.npd_stop_sales && !tax::sale_within_cap(income, cheapest_kopecks, cap),
        counted_from: state.counted_from,
        cap_kopecks: cap,
        income_kopecks: income,
        warned_bp: i64::from(state.warned_bp),
    })
}

impl PaymentActor {
    fn cheapest_rub(&self) -> i64 {
        self.services.catalogue.products().iter().map(|p| p.price_kopecks).min().unwrap_or(0)
    }

    pub(super) async fn npd_status(&self) -> Result<NpdCap, PaymentError> {
        let s = &self.services;
        status(&s.pool, &s.settings, s.tz, self.cheapest_rub()).await
    }

    /// A rouble sale of `price_kopecks` may go ahead (always outside НПД mode).
    pub(super) async fn rub_sale_allowed(&self, price_kopecks: i64) -> Result<bool, PaymentError> {
        let t = &self.services.settings.file.tax;
        if t.receipt_mode != ReceiptMode::Npd || !t.npd_stop_sales {
            return Ok(true);
        }
        let cap = self.npd_status().await?;
        Ok(tax::sale_within_cap(cap.income_kopecks, price_kopecks, cap.cap_kopecks))
    }

    /// After a grant: warn the operators once the income crosses a threshold (once each).
    pub(super) async fn warn_near_cap(&self) {
        let t = &self.services.settings.file.tax;
        if t.receipt_mode != ReceiptMode::Npd {
            return;
        }
        let cap = match self.npd_status().await {
            Ok(cap) => cap,
            Err(e) => {
                tracing::warn!(error = %e, "could not check the НПД cap");
                return;
            }
        };
        let thresholds = [t.npd_warn_at_bp, t.npd_warn_high_bp];
        let Some(due) = tax::cap_warning_due(cap.income_kopecks, cap.cap_kopecks, cap.warned_bp, &thresholds) else {
            return;
        };
        // Only the caller that moves the mark up sends (a second node, a retry: nothing again).
        match legal_db::cap_warned(&self.services.pool, cap.year, due as i32).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not record the НПД cap warning");
                return;
            }
        }
        let percent = tax::cap_share_bp(cap.income_kopecks, cap.cap_kopecks) / 100;
        tracing::warn!(income = %cap.income_rub, cap = %cap.cap_rub, percent, "НПД yearly cap approaching");
        let text = i18n::npd_cap_warning_text(&cap.income_rub, &cap.cap_rub, percent);
        for admin in &self.services.settings.admin_ids {
            self.notifier.send_text(*admin, text.clone(), None);
        }
    }

    /// An operator raises the cap (`cap_kopecks`) and/or resets the count from now.
    pub(super) async fn set_npd_cap(&self, cap_kopecks: Option<i64>, reset: bool) -> Result<NpdCap, PaymentError> {
        let (year, _) = year_of(self.services.tz, Utc::now())?;
        legal_db::cap_update(&self.services.pool, year, cap_kopecks, reset).await?;
        let cap = self.npd_status().await?;
        tracing::info!(cap = %cap.cap_rub, income = %cap.income_rub, reset, "НПД cap changed by an operator");
        Ok(cap)
    }
}
