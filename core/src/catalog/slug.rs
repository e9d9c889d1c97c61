//! URL slugs: lower-case letters and digits of any script (shops sell in
//! Kazakh and Russian too), words joined by single dashes.

use crate::FieldError;

pub fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    let mut dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.push(c);
        } else {
            dash = true;
        }
    }
    slug.chars()
        .take(100)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// The validated name of something new and its slug: the one given, or one
/// made from the name. Problems go to `errors`.
pub fn name_and_slug(
    name: &str,
    given: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> (String, String) {
    let name = crate::validate::name(name)
        .map_err(|m| errors.push(FieldError::new("name", m)))
        .unwrap_or_default();
    let slug = match given {
        Some(s) => parse(s)
            .map_err(|m| errors.push(FieldError::new("slug", m)))
            .unwrap_or_default(),
        None => slugify(&name),
    };
    // A valid name of symbols or emoji only ("★★★") makes no slug; rather
    // than refuse it, it gets a random one (its owner may set another).
    let slug = if slug.is_empty() {
        format!("n-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
    } else {
        slug
    };
    (name, slug)
}

/// The changed name and slug of an update, each validated when given.
/// Problems go to `errors`.
pub fn changed_name_and_slug(
    name: Option<&str>,
    slug: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> (Option<String>, Option<String>) {
    let name = name.and_then(|n| {
        crate::validate::name(n)
            .map_err(|m| errors.push(FieldError::new("name", m)))
            .ok()
    });
    let slug = slug.and_then(|s| {
        parse(s)
            .map_err(|m| errors.push(FieldError::new("slug", m)))
            .ok()
    });
    (name, slug)
}

/// A slug given by a client: already in slug form, 1 to 100 characters.
pub fn parse(raw: &str) -> Result<String, &'static str> {
    // Not trimmed: a slug is an identifier, and " a " is not one.
    let s = raw;
    if s.is_empty() || s.chars().count() > 100 {
        return Err("must be 1 to 100 characters");
    }
    if slugify(s) != s {
        return Err("must be lower-case letters and digits joined by single dashes");
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_keep_letters_of_any_script() {
        assert_eq!(
            slugify("  Cotton T-Shirts & More!! "),
            "cotton-t-shirts-more"
        );
        assert_eq!(slugify("Одежда для дома"), "одежда-для-дома");
        assert_eq!(slugify("---"), "");
    }

    #[test]
    fn a_name_without_letters_or_digits_gets_a_random_slug() {
        let mut errors = Vec::new();
        let (name, slug) = name_and_slug("★★★", None, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(name, "★★★");
        assert!(parse(&slug).is_ok() && slug.starts_with("n-"), "{slug}");
    }

    #[test]
    fn given_slugs_must_already_be_slugs() {
        assert!(parse("summer-sale").is_ok());
        for bad in ["", "Summer", "a--b", "-a", "a b", " a"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
