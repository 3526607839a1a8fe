//! The legal documents (issue 17): the public offer, the privacy policy (152-ФЗ) and the terms of
//! automatic renewal, in Russian and English. Each text is Markdown with a small header
//! (`version:` and `title:` between `---` lines) and placeholders filled from the settings
//! (`{{owner_name}}`, `{{owner_inn}}`, `{{owner_contact}}`, `{{support_contact}}`, `{{plans}}`,
//! `{{upload_retention_days}}`, `{{result_retention_days}}`). Pure: the caller reads the files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::i18n::Lang;

/// Which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
#[ts(export_to = "Legal.ts")]
pub enum DocKind {
    Offer,
    Privacy,
    Autorenew,
}

impl DocKind {
    pub const ALL: [DocKind; 3] = [DocKind::Offer, DocKind::Privacy, DocKind::Autorenew];

    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Offer => "offer",
            DocKind::Privacy => "privacy",
            DocKind::Autorenew => "autorenew",
        }
    }

    pub fn parse(name: &str) -> Option<DocKind> {
        DocKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One document in one language, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalDoc {
    pub kind: DocKind,
    pub lang: Lang,
    pub version: String,
    pub title: String,
    pub text: String,
}

/// What the placeholders are filled with.
#[derive(Debug, Clone, Default)]
pub struct LegalValues {
    pub owner_name: String,
    pub owner_inn: String,
    pub owner_contact: String,
    pub support_contact: String,
    pub upload_retention_days: i64,
    pub result_retention_days: i64,
    /// The subscription plans with price and period, one Markdown list per language.
    pub plans_ru: String,
    pub plans_en: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LegalError {
    #[error("{0}: the header (--- version: … title: … ---) is missing or incomplete")]
    Header(String),
    #[error("{0}: unknown placeholder {{{{{1}}}}}")]
    Placeholder(String, String),
    #[error("{0}: the Russian and English versions differ ({1} / {2})")]
    VersionMismatch(String, String, String),
    #[error("{0}: missing")]
    Missing(String),
}

/// Every document in both languages.
#[derive(Debug, Clone, Default)]
pub struct LegalDocs {
    docs: BTreeMap<(DocKind, &'static str), LegalDoc>,
}

impl LegalDocs {
    /// Builds the set from raw files: `raw(kind, lang)` gives the file's text (`None`: missing).
    /// Both languages of a document must carry the same version.
    pub fn build(
        values: &LegalValues,
        mut raw: impl FnMut(DocKind, Lang) -> Option<String>,
    ) -> Result<LegalDocs, LegalError> {
        let mut docs = BTreeMap::new();
        for kind in DocKind::ALL {
            let mut versions = Vec::new();
            for lang in [Lang::Ru, Lang::En] {
                let name = format!("{}.{}.md", kind.as_str(), lang.code());
                let text = raw(kind, lang).ok_or_else(|| LegalError::Missing(name.clone()))?;
                let doc = parse(kind, lang, &name, &text, values)?;
                versions.push(doc.version.clone());
                docs.insert((kind, lang.code()), doc);
            }
            if versions[0] != versions[1] {
                return Err(LegalError::VersionMismatch(
                    kind.as_str().to_string(),
                    versions[0].clone(),
                    versions[1].clone(),
                ));
            }
        }
        Ok(LegalDocs { docs })
    }

    pub fn get(&self, kind: DocKind, lang: Lang) -> Option<&LegalDoc> {
        self.docs.get(&(kind, lang.code()))
    }

    /// The current version of a document (the same in both languages).
    pub fn version(&self, kind: DocKind) -> Option<&str> {
        self.get(kind, Lang::Ru).map(|d| d.version.as_str())
    }

    /// The documents in `lang`, in the order of [`DocKind::ALL`].
    pub fn in_language(&self, lang: Lang) -> Vec<&LegalDoc> {
        DocKind::ALL.into_iter().filter_map(|k| self.get(k, lang)).collect()
    }
}

fn parse(kind: DocKind, lang: Lang, name: &str, raw: &str, values: &LegalValues) -> Result<LegalDoc, LegalError> {
    let header_error = || LegalError::Header(name.to_string());
    let raw = raw.trim_start_matches('\u{feff}');
    let rest = raw.strip_prefix("---").ok_or_else(header_error)?;
    let (header, body) = rest.split_once("\n---").ok_or_else(header_error)?;
    let field = |key: &str| {
        header
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let version = field("version").ok_or_else(header_error)?;
    let title = field("title").ok_or_else(header_error)?;
    let text = fill(body.trim_start_matches(['-', '\r', '\n']).trim_start(), lang, name, values)?;
    Ok(LegalDoc { kind, lang, version, title, text: text.trim_end().to_string() + "\n" })
}

fn fill(body: &str, lang: Lang, name: &str, v: &LegalValues) -> Result<String, LegalError> {
    let unset = lang.pick("[не указано]", "[not set]");
    let or_unset = |s: &str| if s.trim().is_empty() { unset.to_string() } else { s.trim().to_string() };
    let mut out = String::with_capacity(body.len() + 256);
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let key = after[..end].trim();
        let value = match key {
            "owner_name" => or_unset(&v.owner_name),
            "owner_inn" => or_unset(&v.owner_inn),
            "owner_contact" => or_unset(&v.owner_contact),
            "support_contact" => or_unset(&v.support_contact),
            "upload_retention_days" => v.upload_retention_days.to_string(),
            "result_retention_days" => v.result_retention_days.to_string(),
            "plans" => lang.pick(&v.plans_ru, &v.plans_en).trim_end().to_string(),
            other => return Err(LegalError::Placeholder(name.to_string(), other.to_string())),
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> LegalValues {
        LegalValues {
            owner_name: "Иванов И. И.".into(),
            owner_inn: "770000000000".into(),
            owner_contact: "owner@example.com".into(),
            support_contact: "@support".into(),
            upload_retention_days: 7,
            result_retention_days: 90,
            plans_ru: "- Базовый — 299.00 ₽ за 30 дней".into(),
            plans_en: "- Basic — 299.00 ₽ per 30 days".into(),
        }
    }

    fn file(kind: DocKind, lang: Lang) -> Option<String> {
        Some(format!(
            "---\nversion: 2026-12-03\ntitle: {} {}\n---\n\n# Title\n\nSeller: {{{{owner_name}}}}, INN {{{{ owner_inn }}}}.\n{{{{plans}}}}\nKept {{{{upload_retention_days}}}} days.\n",
            kind.as_str(),
            lang.code()
        ))
    }

    #[test]
    fn fills_placeholders_and_reads_the_header() {
        let docs = LegalDocs::build(&values(), file).unwrap();
        let offer = docs.get(DocKind::Offer, Lang::Ru).unwrap();
        assert_eq!(offer.version, "2026-12-03");
        assert_eq!(offer.title, "offer ru");
        assert!(offer.text.starts_with("# Title"), "{}", offer.text);
        assert!(offer.text.contains("Seller: Иванов И. И., INN 770000000000."));
        assert!(offer.text.contains("- Базовый — 299.00 ₽ за 30 дней"));
        assert!(offer.text.contains("Kept 7 days."));
        let en = docs.get(DocKind::Offer, Lang::En).unwrap();
        assert!(en.text.contains("- Basic — 299.00 ₽ per 30 days"));
        assert_eq!(docs.version(DocKind::Privacy), Some("2026-12-03"));
        assert_eq!(docs.in_language(Lang::En).len(), 3);
    }

    #[test]
    fn an_unset_owner_detail_says_so() {
        let docs = LegalDocs::build(&LegalValues { owner_inn: " ".into(), ..values() }, file).unwrap();
        assert!(docs.get(DocKind::Offer, Lang::Ru).unwrap().text.contains("INN [не указано]."));
        assert!(docs.get(DocKind::Offer, Lang::En).unwrap().text.contains("INN [not set]."));
    }

    #[test]
    fn refuses_bad_files() {
        let no_header = LegalDocs::build(&values(), |_, _| Some("# no header".into()));
        assert_eq!(no_header.unwrap_err(), LegalError::Header("offer.ru.md".into()));
        let unknown =
            LegalDocs::build(&values(), |_, _| Some("---\nversion: 1\ntitle: t\n---\n{{owner_pasport}}".into()));
        assert!(matches!(unknown.unwrap_err(), LegalError::Placeholder(_, p) if p == "owner_pasport"));
        let versions =
            LegalDocs::build(&values(), |_, lang| Some(format!("---\nversion: {}\ntitle: t\n---\ntext", lang.code())));
        assert!(matches!(versions.unwrap_err(), LegalError::VersionMismatch(..)));
        let missing = LegalDocs::build(&values(), |k, _| (k != DocKind::Autorenew).then(|| file(k, Lang::Ru).unwrap()));
        assert_eq!(missing.unwrap_err(), LegalError::Missing("autorenew.ru.md".into()));
        assert_eq!(DocKind::parse("privacy"), Some(DocKind::Privacy));
        assert_eq!(DocKind::parse("cookies"), None);
    }
}

/// Where a buyer's receipt goes: an e-mail or a phone (digits, country code first, as YooKassa
/// takes it: `79001234567`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Contact {
    Email(String),
    Phone(String),
}

impl Contact {
    /// A checked e-mail address (at most 254 characters, one `@`, a dotted domain, no spaces),
    /// its domain lower-cased.
    pub fn email(raw: &str) -> Option<Contact> {
        let raw = raw.trim();
        let (local, domain) = raw.split_once('@')?;
        let valid_local = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let valid_domain = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| tld.chars().count() >= 2);
        (raw.len() <= 254 && valid_local && valid_domain)
            .then(|| Contact::Email(format!("{local}@{}", domain.to_lowercase())))
    }

    /// A checked phone number: 11–15 digits with the country code (spaces, dashes, brackets and
    /// a leading `+` are dropped); a Russian `8XXXXXXXXXX` becomes `7XXXXXXXXXX`.
    pub fn phone(raw: &str) -> Option<Contact> {
        let raw = raw.trim();
        if raw.is_empty() || !raw.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) {
            return None;
        }
        if raw.chars().skip(1).any(|c| c == '+') {
            return None;
        }
        let mut digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if digits.len() == 11 && digits.starts_with('8') && !raw.starts_with('+') {
            digits.replace_range(0..1, "7");
        }
        if digits.len() == 10 && digits.starts_with('9') && !raw.starts_with('+') {
            digits.insert(0, '7');
        }
        ((11..=15).contains(&digits.len()) && !digits.starts_with('0')).then_some(Contact::Phone(digits))
    }

    /// `receipt.customer` of a YooKassa request.
    pub fn customer_json(&self) -> serde_json::Value {
        match self {
            Contact::Email(email) => serde_json::json!({"email": email}),
            Contact::Phone(phone) => serde_json::json!({"phone": phone}),
        }
    }
}

#[cfg(test)]
mod contact_tests {
    use super::Contact;

    #[test]
    fn e_mails_are_checked() {
        assert_eq!(Contact::email(" Anna.K+shop@Mail.RU "), Some(Contact::Email("Anna.K+shop@mail.ru".into())));
        assert_eq!(Contact::email("анна@почта.рф"), None, "a non-ASCII local part is refused");
        assert_eq!(Contact::email("a@почта.рф"), Some(Contact::Email("a@почта.рф".into())));
        for bad in ["", "a", "a@", "@b.ru", "a@b", "a b@c.ru", "a@b..ru", "a@-b.ru", "a@b.r", ".a@b.ru", "a@@b.ru"] {
            assert_eq!(Contact::email(bad), None, "{bad:?}");
        }
        assert_eq!(Contact::email(&format!("{}@b.ru", "a".repeat(65))), None);
    }

    #[test]
    fn phones_are_normalised() {
        assert_eq!(Contact::phone("+7 (900) 123-45-67"), Some(Contact::Phone("79001234567".into())));
        assert_eq!(Contact::phone("89001234567"), Some(Contact::Phone("79001234567".into())));
        assert_eq!(Contact::phone("9001234567"), Some(Contact::Phone("79001234567".into())));
        assert_eq!(Contact::phone("+380441234567"), Some(Contact::Phone("380441234567".into())));
        for bad in ["", "12345", "+7 900 abc", "7+9001234567", "0123456789012", "1234567890123456", "\u{0}79001234567"]
        {
            assert_eq!(Contact::phone(bad), None, "{bad:?}");
        }
        assert_eq!(Contact::Phone("79001234567".into()).customer_json(), serde_json::json!({"phone": "79001234567"}));
    }
}
