//! Try-on categories and their prompts. The prompt for a category is its own file,
//! `config/prompts/tryon/<category>.md`, when one exists (what to keep and how an item sits
//! differs between shoes and glasses), else the general template `config/prompts/tryon.md`
//! with `{category}` replaced by the category's phrase. Built once at start-up; a request
//! only picks a prepared string.

use std::collections::HashMap;

/// Try-on categories (DESIGN §1) and how the general template names each.
pub const CATEGORIES: &[(&str, &str)] = &[
    ("top", "top (shirt, blouse, sweater or jacket)"),
    ("bottom", "bottom (trousers, skirt or shorts)"),
    ("dress", "dress"),
    ("outerwear", "coat or jacket"),
    ("shoes", "shoes"),
    ("headwear", "hat or cap"),
    ("glasses", "glasses"),
    ("bag", "bag"),
    ("jewellery", "jewellery"),
    ("accessory", "accessory (bag, hat, glasses, jewellery or scarf)"),
    ("outfit", "outfit"),
    ("other", "clothing item or accessory"),
];

/// The order and icon (a name the Mini App maps to a picture) of the categories a user picks
/// from in the try-on quiz (`GET /api/tryon/categories`; titles in `i18n::category_title`).
/// Every id has a prompt (a test checks it).
pub const CATEGORY_CARDS: &[(&str, &str)] = &[
    ("outfit", "outfit"),
    ("top", "shirt"),
    ("bottom", "trousers"),
    ("dress", "dress"),
    ("outerwear", "coat"),
    ("shoes", "shoe"),
    ("headwear", "hat"),
    ("glasses", "glasses"),
    ("bag", "bag"),
    ("jewellery", "ring"),
    ("accessory", "scarf"),
    ("other", "hanger"),
];

/// One ready prompt per category.
#[derive(Debug, Clone)]
pub struct TryOnPrompts {
    by_category: HashMap<&'static str, String>,
}

impl TryOnPrompts {
    /// `general` must contain `{category}`; `own` maps a category id to its own prompt
    /// (`{category}` in it is replaced too). An `own` entry for an unknown category is an
    /// error, so a misnamed file is noticed at start-up.
    pub fn build(general: &str, own: &HashMap<String, String>) -> Result<Self, String> {
        if !general.contains("{category}") {
            return Err("the general try-on template must contain {category}".into());
        }
        if let Some(unknown) = own.keys().find(|k| !CATEGORIES.iter().any(|(c, _)| c == k)) {
            return Err(format!("a try-on prompt for an unknown category {unknown:?}"));
        }
        let by_category = CATEGORIES
            .iter()
            .map(|(id, phrase)| {
                let template = own.get(*id).map_or(general, String::as_str);
                (*id, template.replace("{category}", phrase).trim().to_string())
            })
            .collect();
        Ok(TryOnPrompts { by_category })
    }

    /// The prompt for a category id, or `None` for an unknown category.
    pub fn get(&self, category: &str) -> Option<&str> {
        self.by_category.get(category).map(String::as_str)
    }

    /// How many categories have a prompt.
    pub fn len(&self) -> usize {
        self.by_category.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_category.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_category_file_wins_over_the_general_template() {
        let own = HashMap::from([("shoes".to_string(), "Put the {category} on the feet.\n".to_string())]);
        let prompts = TryOnPrompts::build("Dress them in the {category}.", &own).unwrap();
        assert_eq!(prompts.get("shoes"), Some("Put the shoes on the feet."));
        assert_eq!(prompts.get("dress"), Some("Dress them in the dress."));
        assert_eq!(prompts.get("top"), Some("Dress them in the top (shirt, blouse, sweater or jacket)."));
        assert_eq!(prompts.get("spacesuit"), None);
        assert_eq!(prompts.len(), CATEGORIES.len());
    }

    #[test]
    fn every_card_is_a_category_with_titles_and_every_category_has_a_card() {
        use crate::domain::i18n::{Lang, category_title};
        assert_eq!(CATEGORY_CARDS.len(), CATEGORIES.len());
        for (id, _) in CATEGORY_CARDS {
            assert!(CATEGORIES.iter().any(|(c, _)| c == id), "{id}");
            assert_ne!(category_title(id, Lang::Ru), category_title(id, Lang::En), "{id} is translated");
        }
    }

    #[test]
    fn a_bad_template_or_a_misnamed_file_is_refused() {
        assert!(TryOnPrompts::build("no placeholder", &HashMap::new()).is_err());
        let own = HashMap::from([("shoe".to_string(), "x".to_string())]);
        assert!(TryOnPrompts::build("{category}", &own).is_err());
    }
}
