//! The legal documents, the user's consents and the contact for receipts (issue 17; docs/API.md):
//!
//! - `GET /api/legal`: the offer, the privacy policy and the renewal terms (`kind`, `version`,
//!   `language` from `Accept-Language` or `?lang=`, Russian by default, `title`, Markdown `text`).
//!   Public: the bot links them. `GET /api/legal/{kind}` is one document as plain text.
//! - `GET /api/me/consents`, `POST /api/me/consents {kind, version}`: consents are stored with
//!   their time and the text's version (only the current version can be accepted). Uploads need
//!   `privacy`, subscriptions `autorenew`, in the current version (`403 consent_required`
//!   otherwise: a new version of a text asks again).
//! - `GET /api/me/contact`, `PUT /api/me/contact {"email"}` or `{"phone"}`: where receipts go;
//!   a rouble payment without one is `409 contact_required`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::AuthUser;
use super::error::request_lang;
use super::{ApiError, ApiJson, AppState};
use crate::db::legal as legal_db;
use crate::domain::errors::ErrorCode;
use crate::domain::i18n::Lang;
use crate::domain::legal::{Contact, DocKind, LegalDoc};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/legal", get(documents))
        .route("/api/legal/{kind}", get(document_text))
        .route("/api/me/consents", get(list_consents).post(give_consent))
        .route("/api/me/contact", get(get_contact).put(put_contact))
}

/// One legal document in one language.
#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Legal.ts")]
pub struct LegalDocView {
    pub kind: DocKind,
    pub version: String,
    pub language: String,
    pub title: String,
    /// Markdown.
    pub text: String,
}

#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Legal.ts")]
pub struct LegalView {
    pub language: String,
    pub documents: Vec<LegalDocView>,
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

fn language(headers: &HeaderMap, query: &LangQuery) -> Lang {
    query.lang.as_deref().map(Lang::from_code).unwrap_or_else(|| request_lang(headers))
}

fn doc_view(doc: &LegalDoc) -> LegalDocView {
    LegalDocView {
        kind: doc.kind,
        version: doc.version.clone(),
        language: doc.lang.code().to_string(),
        title: doc.title.clone(),
        text: doc.text.clone(),
    }
}

async fn documents(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LangQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LegalView>, ApiError> {
    let Query(query) = query?;
    let lang = language(&headers, &query);
    Ok(Json(LegalView {
        language: lang.code().to_string(),
        documents: state.legal.in_language(lang).into_iter().map(doc_view).collect(),
    }))
}

/// One document as `text/plain` Markdown (what the bot's `/terms` links open in a browser).
async fn document_text(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    query: Result<Query<LangQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Query(query) = query?;
    let kind = DocKind::parse(&kind).ok_or_else(ApiError::not_found)?;
    let doc = state.legal.get(kind, language(&headers, &query)).ok_or_else(ApiError::not_found)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], doc.text.clone()).into_response())
}

/// A consent as stored.
#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Legal.ts")]
pub struct ConsentView {
    pub kind: String,
    pub version: String,
    pub accepted_at: DateTime<Utc>,
}

/// The user's consents and what each document's current version is.
#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Legal.ts")]
pub struct ConsentsView {
    pub consents: Vec<ConsentView>,
    /// Documents whose current version the user has not accepted (a new version asks again).
    pub missing: Vec<DocKind>,
    /// The current version of each document, by kind.
    pub versions: std::collections::BTreeMap<String, String>,
}

async fn list_consents(State(state): State<AppState>, user: AuthUser) -> Result<Json<ConsentsView>, ApiError> {
    let rows = legal_db::consents(&state.pool, user.id).await?;
    let current = |k: DocKind| state.legal.version(k).unwrap_or_default().to_string();
    let missing = DocKind::ALL
        .into_iter()
        .filter(|k| !rows.iter().any(|r| r.kind == k.as_str() && r.version == current(*k)))
        .collect();
    let versions = DocKind::ALL
        .into_iter()
        .filter_map(|k| state.legal.version(k).map(|v| (k.as_str().to_string(), v.to_string())))
        .collect();
    let consents = rows
        .into_iter()
        .map(|r| ConsentView { kind: r.kind, version: r.version, accepted_at: r.accepted_at })
        .collect();
    Ok(Json(ConsentsView { consents, missing, versions }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GiveConsent {
    kind: String,
    version: String,
}

/// Records a consent to the current version of a document (again: the first time is kept).
async fn give_consent(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<GiveConsent>,
) -> Result<(StatusCode, Json<ConsentView>), ApiError> {
    let kind = DocKind::parse(&body.kind).ok_or_else(|| ApiError::validation("kind"))?;
    if state.legal.version(kind) != Some(body.version.as_str()) {
        return Err(ApiError::validation("version"));
    }
    let row = legal_db::record_consent(&state.pool, user.id, kind.as_str(), &body.version).await?;
    tracing::info!(user.id = %user.id, kind = kind.as_str(), version = %row.version, "consent recorded");
    Ok((StatusCode::CREATED, Json(ConsentView { kind: row.kind, version: row.version, accepted_at: row.accepted_at })))
}

/// Where the user's receipts go (one of the two, or neither).
#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Legal.ts")]
pub struct ContactView {
    pub email: Option<String>,
    pub phone: Option<String>,
}

fn contact_view(contact: Option<&Contact>) -> ContactView {
    match contact {
        Some(Contact::Email(e)) => ContactView { email: Some(e.clone()), phone: None },
        Some(Contact::Phone(p)) => ContactView { email: None, phone: Some(p.clone()) },
        None => ContactView { email: None, phone: None },
    }
}

async fn get_contact(State(state): State<AppState>, user: AuthUser) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(contact_view(legal_db::contact(&state.pool, user.id).await?.as_ref())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutContact {
    email: Option<String>,
    phone: Option<String>,
}

/// Sets the receipt contact: an e-mail or a phone (it replaces the other); checked and
/// normalised (`+7 (900) 123-45-67` → `79001234567`).
async fn put_contact(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<PutContact>,
) -> Result<Json<ContactView>, ApiError> {
    let contact = match (body.email.as_deref(), body.phone.as_deref()) {
        (Some(email), None) => Contact::email(email).ok_or_else(|| ApiError::validation("email"))?,
        (None, Some(phone)) => Contact::phone(phone).ok_or_else(|| ApiError::validation("phone"))?,
        (None, None) => return Err(ApiError::validation("email")),
        (Some(_), Some(_)) => {
            return Err(ApiError::new(ErrorCode::ValidationFailed)
                .with_details(serde_json::json!({"field": "phone", "reason": "one of email or phone"})));
        }
    };
    legal_db::set_contact(&state.pool, user.id, &contact).await?;
    tracing::info!(user.id = %user.id, kind = match contact { Contact::Email(_) => "email", Contact::Phone(_) => "phone" }, "receipt contact set");
    Ok(Json(contact_view(Some(&contact))))
}
