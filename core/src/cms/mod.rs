//! The shop's own content: pages (about, delivery, returns) written in
//! Markdown, and the banners the storefront rotates. Admins write them;
//! anyone reads the published ones.

pub mod banners;
pub mod markdown;
pub mod pages;

use crate::FieldError;

/// The title of a new page or banner (required) or of a change (the old one
/// when not given): 1 to 200 characters, trimmed. Problems go to `errors`.
fn title(given: Option<&str>, old: Option<&str>, errors: &mut Vec<FieldError>) -> String {
    match (given, old) {
        (Some(t), _) => {
            let t = t.trim();
            if t.is_empty() || t.chars().count() > 200 {
                errors.push(FieldError::new("title", "must be 1 to 200 characters"));
            }
            t.to_owned()
        }
        (None, Some(o)) => o.to_owned(),
        (None, None) => {
            errors.push(FieldError::new("title", "is required"));
            String::new()
        }
    }
}
